namespace Rbee.Worker.ChatTemplates;

/// <summary>Every node keeps where it began so runtime errors can name the line and column.</summary>
internal abstract record Node(int Line, int Column);

// ---- statements ----
internal sealed record TextNode(string Text, int Line, int Column) : Node(Line, Column);

internal sealed record PrintNode(Expr Value, int Line, int Column) : Node(Line, Column);

internal sealed record IfNode(List<(Expr Test, List<Node> Body)> Branches, List<Node>? Else, int Line, int Column) : Node(Line, Column);

internal sealed record ForNode(Target Target, Expr Iter, Expr? Filter, List<Node> Body, List<Node>? Else, int Line, int Column) : Node(Line, Column);

internal sealed record SetNode(Target Target, Expr Value, int Line, int Column) : Node(Line, Column);

internal sealed record SetBlockNode(Target Target, List<Node> Body, List<FilterExpr> Filters, int Line, int Column) : Node(Line, Column);

internal sealed record MacroNode(string Name, List<(string Name, Expr? Default)> Parameters, List<Node> Body, int Line, int Column) : Node(Line, Column);

internal sealed record CallBlockNode(CallExpr Call, MacroNode Caller, int Line, int Column) : Node(Line, Column);

internal sealed record WithNode(List<(Target Target, Expr Value)> Assignments, List<Node> Body, int Line, int Column) : Node(Line, Column);

internal sealed record FilterBlockNode(List<FilterExpr> Filters, List<Node> Body, int Line, int Column) : Node(Line, Column);

internal sealed record BreakNode(int Line, int Column) : Node(Line, Column);

internal sealed record ContinueNode(int Line, int Column) : Node(Line, Column);

// ---- assignment targets ----
internal abstract record Target(int Line, int Column) : Node(Line, Column);

internal sealed record NameTarget(string Name, int Line, int Column) : Target(Line, Column);

internal sealed record TupleTarget(List<Target> Items, int Line, int Column) : Target(Line, Column);

internal sealed record NamespaceTarget(string Name, string Attribute, int Line, int Column) : Target(Line, Column);

// ---- expressions ----
internal abstract record Expr(int Line, int Column) : Node(Line, Column);

internal sealed record ConstExpr(object? Value, int Line, int Column) : Expr(Line, Column);

internal sealed record NameExpr(string Name, int Line, int Column) : Expr(Line, Column);

internal sealed record ListExpr(List<Expr> Items, int Line, int Column) : Expr(Line, Column);

internal sealed record TupleExpr(List<Expr> Items, int Line, int Column) : Expr(Line, Column);

internal sealed record DictExpr(List<(Expr Key, Expr Value)> Pairs, int Line, int Column) : Expr(Line, Column);

internal sealed record AttrExpr(Expr Target, string Attribute, int Line, int Column) : Expr(Line, Column);

internal sealed record ItemExpr(Expr Target, Expr Key, int Line, int Column) : Expr(Line, Column);

internal sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step, int Line, int Column) : Expr(Line, Column);

internal sealed record CallExpr(Expr Callee, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, int Line, int Column) : Expr(Line, Column);

/// <summary>A filter application; <see cref="Value"/> is null inside <c>{% filter %}</c> and <c>{% set x | f %}</c>.</summary>
internal sealed record FilterExpr(Expr? Value, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, int Line, int Column) : Expr(Line, Column);

internal sealed record TestExpr(Expr Value, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, bool Negated, int Line, int Column) : Expr(Line, Column);

internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line, int Column) : Expr(Line, Column);

internal sealed record UnaryExpr(string Op, Expr Operand, int Line, int Column) : Expr(Line, Column);

internal sealed record CompareExpr(Expr First, List<(string Op, Expr Operand)> Rest, int Line, int Column) : Expr(Line, Column);

internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, int Line, int Column) : Expr(Line, Column);
