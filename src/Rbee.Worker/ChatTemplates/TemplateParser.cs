using System.Runtime.CompilerServices;

namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// Recursive-descent parser with jinja2's grammar and precedence (parser.py): conditional expression,
/// or, and, not, comparisons and in/not in, + -, ~, * / // %, **, unary - +, then primary with
/// postfix . [] () and filters/tests. Constructs outside the subset fail with their name and position.
/// </summary>
internal sealed class TemplateParser
{
    private static readonly HashSet<string> CompareOps = ["==", "!=", "<", "<=", ">", ">="];

    // Tags jinja2 knows that this interpreter deliberately does not run: template inheritance and loading
    // need a loader (a chat template is one string), the rest is not used by chat templates.
    private static readonly HashSet<string> UnsupportedTags =
        ["extends", "block", "include", "import", "from", "autoescape", "do", "trans", "pluralize", "endtrans"];

    // Bounds recursion on hostile input (the template comes from a model file) well before the stack would.
    private const int MaxNesting = 200;

    private readonly List<Token> _tokens;
    private int _nesting;
    private int _i;
    private int _loopDepth;

    private TemplateParser(List<Token> tokens) => _tokens = tokens;

    public static List<Node> Parse(string source)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source));
        var body = parser.ParseBody([], out _);
        return body;
    }

    private Token Current => _tokens[_i];

    private Token Peek(int ahead = 1) => _tokens[Math.Min(_i + ahead, _tokens.Count - 1)];

    private Token Next() => _tokens[_i++];

    private static ChatTemplateException Error(string message, Token at) =>
        ChatTemplateException.At(message, at.Line, at.Column);

    private Token Expect(TokenKind kind, string? value = null)
    {
        var t = Current;
        if (t.Kind != kind || (value is not null && t.Value != value))
        {
            var wanted = value is not null ? $"'{value}'" : kind switch
            {
                TokenKind.Name => "a name",
                TokenKind.BlockEnd => "end of statement block",
                TokenKind.VariableEnd => "end of print statement",
                _ => kind.ToString(),
            };
            throw Error($"expected {wanted}, got {t.Describe()}", t);
        }

        _i++;
        return t;
    }

    private bool SkipOperator(string op)
    {
        if (Current.IsOperator(op))
        {
            _i++;
            return true;
        }

        return false;
    }

    private bool SkipName(string name)
    {
        if (Current.IsName(name))
        {
            _i++;
            return true;
        }

        return false;
    }

    /// <summary>Parses nodes until a block tag named in <paramref name="endTags"/>, which is consumed and returned.</summary>
    private List<Node> ParseBody(HashSet<string> endTags, out string endTag)
    {
        var body = new List<Node>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.EndOfTemplate:
                    if (endTags.Count > 0)
                    {
                        throw Error($"unexpected end of template, expected {Expected(endTags)}", t);
                    }

                    endTag = "";
                    return body;
                case TokenKind.Data:
                    _i++;
                    body.Add(new TextNode(t.Value, t.Line, t.Column));
                    break;
                case TokenKind.VariableBegin:
                    _i++;
                    var expr = ParseTuple(withCondExpr: true);
                    Expect(TokenKind.VariableEnd);
                    body.Add(new PrintNode(expr, t.Line, t.Column));
                    break;
                case TokenKind.BlockBegin:
                    _i++;
                    var name = Current;
                    if (name.Kind != TokenKind.Name)
                    {
                        throw Error($"expected a tag name, got {name.Describe()}", name);
                    }

                    if (endTags.Contains(name.Value))
                    {
                        _i++;
                        endTag = name.Value;
                        return body;
                    }

                    if (name.Value.StartsWith("end", StringComparison.Ordinal) || name.Value is "else" or "elif")
                    {
                        throw Error(
                            endTags.Count > 0
                                ? $"unexpected '{{% {name.Value} %}}', expected {Expected(endTags)}"
                                : $"unexpected '{{% {name.Value} %}}' with no open block it could close",
                            name);
                    }

                    body.Add(ParseStatement());
                    break;
                default:
                    throw Error($"unexpected {t.Describe()}", t);
            }
        }
    }

    private static string Expected(HashSet<string> endTags) => string.Join(" or ", endTags.Select(e => $"'{{% {e} %}}'"));

    private Node ParseStatement()
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        var tag = Next();
        switch (tag.Value)
        {
            case "if":
                return ParseIf(tag);
            case "for":
                return ParseFor(tag);
            case "set":
                return ParseSet(tag);
            case "macro":
                return ParseMacro(tag);
            case "with":
                return ParseWith(tag);
            case "call":
                return ParseCallBlock(tag);
            case "filter":
                return ParseFilterBlock(tag);
            case "generation":
                // Hugging Face's AssistantTracker extension marks assistant text for training masks; for
                // rendering, its body is output as is.
                Expect(TokenKind.BlockEnd);
                var generated = ParseBody(["endgeneration"], out _);
                Expect(TokenKind.BlockEnd);
                return new WithNode([], generated, tag.Line, tag.Column);
            case "break":
            case "continue":
                if (_loopDepth == 0)
                {
                    throw Error($"'{{% {tag.Value} %}}' outside of a loop", tag);
                }

                Expect(TokenKind.BlockEnd);
                return tag.Value == "break" ? new BreakNode(tag.Line, tag.Column) : new ContinueNode(tag.Line, tag.Column);
            default:
                if (UnsupportedTags.Contains(tag.Value))
                {
                    throw Error($"unsupported template construct '{{% {tag.Value} %}}'", tag);
                }

                throw Error($"unknown tag '{{% {tag.Value} %}}'", tag);
        }
    }

    private IfNode ParseIf(Token tag)
    {
        var branches = new List<(Expr, List<Node>)>();
        List<Node>? elseBody = null;
        var test = ParseTuple(withCondExpr: true);
        Expect(TokenKind.BlockEnd);
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], out var end);
            branches.Add((test, body));
            if (end == "elif")
            {
                test = ParseTuple(withCondExpr: true);
                Expect(TokenKind.BlockEnd);
                continue;
            }

            if (end == "else")
            {
                Expect(TokenKind.BlockEnd);
                elseBody = ParseBody(["endif"], out _);
            }

            Expect(TokenKind.BlockEnd);
            return new IfNode(branches, elseBody, tag.Line, tag.Column);
        }
    }

    private ForNode ParseFor(Token tag)
    {
        var target = ParseAssignTarget(allowNamespace: false, extraEnd: "in");
        Expect(TokenKind.Name, "in");
        var iter = ParseTuple(withCondExpr: false, extraEnd: "recursive");
        Expr? filter = null;
        if (SkipName("if"))
        {
            filter = ParseExpression();
        }

        if (Current.IsName("recursive"))
        {
            throw Error("unsupported template construct 'recursive' for loops", Current);
        }

        Expect(TokenKind.BlockEnd);
        _loopDepth++;
        var body = ParseBody(["endfor", "else"], out var end);
        _loopDepth--;
        List<Node>? elseBody = null;
        if (end == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseBody(["endfor"], out _);
        }

        Expect(TokenKind.BlockEnd);
        return new ForNode(target, iter, filter, body, elseBody, tag.Line, tag.Column);
    }

    private Node ParseSet(Token tag)
    {
        var target = ParseAssignTarget(allowNamespace: true);
        if (SkipOperator("="))
        {
            var value = ParseTuple(withCondExpr: true);
            Expect(TokenKind.BlockEnd);
            return new SetNode(target, value, tag.Line, tag.Column);
        }

        var filters = new List<FilterExpr>();
        while (Current.IsOperator("|"))
        {
            filters.Add(ParseFilter(null));
        }

        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endset"], out _);
        Expect(TokenKind.BlockEnd);
        return new SetBlockNode(target, body, filters, tag.Line, tag.Column);
    }

    private CallBlockNode ParseCallBlock(Token tag)
    {
        var parameters = Current.IsOperator("(") ? ParseParameters() : [];
        var call = ParseExpression() as CallExpr
            ?? throw Error("expected a macro call after '{% call %}'", tag);
        Expect(TokenKind.BlockEnd);
        var body = ParseBodyOutsideLoops("endcall");
        Expect(TokenKind.BlockEnd);
        return new CallBlockNode(call, new MacroNode("caller", parameters, body, tag.Line, tag.Column), tag.Line, tag.Column);
    }

    private MacroNode ParseMacro(Token tag)
    {
        var name = Expect(TokenKind.Name).Value;
        var parameters = ParseParameters();
        Expect(TokenKind.BlockEnd);
        var body = ParseBodyOutsideLoops("endmacro");
        Expect(TokenKind.BlockEnd);
        return new MacroNode(name, parameters, body, tag.Line, tag.Column);
    }

    /// <summary>A macro or caller body: a loop around the definition does not make break/continue legal inside it.</summary>
    private List<Node> ParseBodyOutsideLoops(string endTag)
    {
        var savedDepth = _loopDepth;
        _loopDepth = 0;
        var body = ParseBody([endTag], out _);
        _loopDepth = savedDepth;
        return body;
    }

    private List<(string Name, Expr? Default)> ParseParameters()
    {
        var parameters = new List<(string, Expr?)>();
        Expect(TokenKind.Operator, "(");
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
                if (Current.IsOperator(")"))
                {
                    break;
                }
            }

            var p = Expect(TokenKind.Name).Value;
            Expr? def = null;
            if (SkipOperator("="))
            {
                def = ParseExpression();
            }
            else if (parameters.Any(x => x.Item2 is not null))
            {
                throw Error("non-default argument follows default argument", Current);
            }

            parameters.Add((p, def));
        }

        Expect(TokenKind.Operator, ")");
        return parameters;
    }

    private WithNode ParseWith(Token tag)
    {
        var assignments = new List<(Target, Expr)>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (assignments.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
            }

            var target = ParseAssignTarget(allowNamespace: false);
            Expect(TokenKind.Operator, "=");
            assignments.Add((target, ParseExpression()));
        }

        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endwith"], out _);
        Expect(TokenKind.BlockEnd);
        return new WithNode(assignments, body, tag.Line, tag.Column);
    }

    private FilterBlockNode ParseFilterBlock(Token tag)
    {
        var filters = new List<FilterExpr> { ParseFilter(null, startsWithPipe: false) };
        while (Current.IsOperator("|"))
        {
            filters.Add(ParseFilter(null));
        }

        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endfilter"], out _);
        Expect(TokenKind.BlockEnd);
        return new FilterBlockNode(filters, body, tag.Line, tag.Column);
    }

    private Target ParseAssignTarget(bool allowNamespace, string? extraEnd = null)
    {
        var start = Current;
        var items = new List<Target>();
        var sawComma = false;
        while (true)
        {
            if (items.Count > 0)
            {
                if (!SkipOperator(","))
                {
                    break;
                }

                sawComma = true;
                if (Current.Kind != TokenKind.Name || (extraEnd is not null && Current.IsName(extraEnd)))
                {
                    break;
                }
            }

            var name = Expect(TokenKind.Name);
            if (allowNamespace && Current.IsOperator("."))
            {
                _i++;
                var attr = Expect(TokenKind.Name);
                items.Add(new NamespaceTarget(name.Value, attr.Value, name.Line, name.Column));
            }
            else
            {
                if (name.Value is "true" or "false" or "none" or "True" or "False" or "None")
                {
                    throw Error($"cannot assign to '{name.Value}'", name);
                }

                items.Add(new NameTarget(name.Value, name.Line, name.Column));
            }
        }

        return items.Count == 1 && !sawComma ? items[0] : new TupleTarget(items, start.Line, start.Column);
    }

    // ---- expressions ----
    private Expr ParseTuple(bool withCondExpr, string? extraEnd = null, bool explicitParens = false)
    {
        var start = Current;
        var items = new List<Expr>();
        var sawComma = false;
        while (true)
        {
            if (items.Count > 0)
            {
                if (!SkipOperator(","))
                {
                    break;
                }

                sawComma = true;
            }

            if (IsTupleEnd(extraEnd))
            {
                break;
            }

            items.Add(withCondExpr ? ParseExpression() : ParseOr());
        }

        if (items.Count == 0 && !explicitParens)
        {
            throw Error($"expected an expression, got {Current.Describe()}", Current);
        }

        return items.Count == 1 && !sawComma ? items[0] : new TupleExpr(items, start.Line, start.Column);
    }

    private bool IsTupleEnd(string? extraEnd)
    {
        var t = Current;
        return t.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.EndOfTemplate
            || t.IsOperator(")")
            || (extraEnd is not null && t.IsName(extraEnd));
    }

    private Expr ParseExpression() => ParseCondExpr();

    private Expr ParseCondExpr()
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        var expr = ParseOr();
        while (Current.IsName("if"))
        {
            var t = Next();
            var test = ParseOr();
            Expr? otherwise = null;
            if (SkipName("else"))
            {
                otherwise = ParseCondExpr();
            }

            expr = new CondExpr(test, expr, otherwise, t.Line, t.Column);
        }

        return expr;
    }

    private Expr ParseOr() => ParseLeftAssociative(ParseAnd, static t => t.IsName("or"));

    private Expr ParseAnd() => ParseLeftAssociative(ParseNot, static t => t.IsName("and"));

    private Expr ParseNot()
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        if (Current.IsName("not"))
        {
            var t = Next();
            return new UnaryExpr("not", ParseNot(), t.Line, t.Column);
        }

        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var start = Current;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            var t = Current;
            if (t.Kind == TokenKind.Operator && CompareOps.Contains(t.Value))
            {
                _i++;
                rest.Add((t.Value, ParseMath1()));
            }
            else if (t.IsName("in"))
            {
                _i++;
                rest.Add(("in", ParseMath1()));
            }
            else if (t.IsName("not") && Peek().IsName("in"))
            {
                _i += 2;
                rest.Add(("notin", ParseMath1()));
            }
            else
            {
                break;
            }
        }

        return rest.Count == 0 ? first : new CompareExpr(first, rest, start.Line, start.Column);
    }

    private Expr ParseMath1() => ParseLeftAssociative(ParseConcat, static t => t.IsOperator("+") || t.IsOperator("-"));

    private Expr ParseConcat() => ParseLeftAssociative(ParseMath2, static t => t.IsOperator("~"));

    private Expr ParseMath2() =>
        ParseLeftAssociative(ParsePow, static t => t.Kind == TokenKind.Operator && t.Value is "*" or "/" or "//" or "%");

    private Expr ParsePow() => ParseLeftAssociative(() => ParseUnary(withFilter: true), static t => t.IsOperator("**"));

    /// <summary>One precedence level of binary operators: <c>operand (op operand)*</c>, grouped to the left.</summary>
    private Expr ParseLeftAssociative(Func<Expr> operand, Func<Token, bool> isOperator)
    {
        var left = operand();
        while (isOperator(Current))
        {
            var t = Next();
            left = new BinaryExpr(t.Value, left, operand(), t.Line, t.Column);
        }

        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        Expr node;
        var t = Current;
        if (t.IsOperator("-") || t.IsOperator("+"))
        {
            _i++;
            node = new UnaryExpr(t.Value, ParseUnary(withFilter: false), t.Line, t.Column);
        }
        else
        {
            node = ParsePrimary();
        }

        node = ParsePostfix(node);
        if (withFilter)
        {
            node = ParseFilterExpr(node);
        }

        return node;
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        if (t.Kind != TokenKind.Operator || t.Value is not ("(" or "[" or "{"))
        {
            return ParsePrimaryCore(t);
        }

        if (++_nesting > MaxNesting)
        {
            throw Error($"expression nested deeper than {MaxNesting} levels", t);
        }

        try
        {
            return ParsePrimaryCore(t);
        }
        finally
        {
            _nesting--;
        }
    }

    private Expr ParsePrimaryCore(Token t)
    {
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new ConstExpr(true, t.Line, t.Column),
                    "false" or "False" => new ConstExpr(false, t.Line, t.Column),
                    "none" or "None" => new ConstExpr(null, t.Line, t.Column),
                    _ => new NameExpr(t.Value, t.Line, t.Column),
                };
            case TokenKind.String:
                var text = (string)t.Literal!;
                while (Current.Kind == TokenKind.String)
                {
                    text += (string)Next().Literal!;
                }

                return new ConstExpr(text, t.Line, t.Column);
            case TokenKind.Integer:
            case TokenKind.Float:
                return new ConstExpr(t.Literal, t.Line, t.Column);
            case TokenKind.Operator when t.Value == "(":
                var inner = ParseTuple(withCondExpr: true, explicitParens: true);
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when t.Value == "[":
                var items = new List<Expr>();
                while (!Current.IsOperator("]"))
                {
                    if (items.Count > 0)
                    {
                        Expect(TokenKind.Operator, ",");
                        if (Current.IsOperator("]"))
                        {
                            break;
                        }
                    }

                    items.Add(ParseExpression());
                }

                Expect(TokenKind.Operator, "]");
                return new ListExpr(items, t.Line, t.Column);
            case TokenKind.Operator when t.Value == "{":
                var pairs = new List<(Expr, Expr)>();
                while (!Current.IsOperator("}"))
                {
                    if (pairs.Count > 0)
                    {
                        Expect(TokenKind.Operator, ",");
                        if (Current.IsOperator("}"))
                        {
                            break;
                        }
                    }

                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    pairs.Add((key, ParseExpression()));
                }

                Expect(TokenKind.Operator, "}");
                return new DictExpr(pairs, t.Line, t.Column);
            default:
                throw Error($"unexpected {t.Describe()}", t);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("."))
            {
                _i++;
                var attr = Next();
                if (attr.Kind == TokenKind.Name)
                {
                    node = new AttrExpr(node, attr.Value, t.Line, t.Column);
                }
                else if (attr.Kind == TokenKind.Integer)
                {
                    node = new ItemExpr(node, new ConstExpr(attr.Literal, attr.Line, attr.Column), t.Line, t.Column);
                }
                else
                {
                    throw Error($"expected a name after '.', got {attr.Describe()}", attr);
                }
            }
            else if (t.IsOperator("["))
            {
                _i++;
                node = ParseSubscript(node, t);
            }
            else if (t.IsOperator("("))
            {
                node = ParseCall(node);
            }
            else
            {
                return node;
            }
        }
    }

    private Expr ParseSubscript(Expr target, Token open)
    {
        Expr? start = null;
        Expr? stop = null;
        Expr? step = null;
        var isSlice = false;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression();
        }

        if (SkipOperator(":"))
        {
            isSlice = true;
            if (!Current.IsOperator("]") && !Current.IsOperator(":"))
            {
                stop = ParseExpression();
            }

            if (SkipOperator(":") && !Current.IsOperator("]"))
            {
                step = ParseExpression();
            }
        }

        if (Current.IsOperator(","))
        {
            throw Error("unsupported template construct: tuple subscript", Current);
        }

        Expect(TokenKind.Operator, "]");
        return isSlice
            ? new SliceExpr(target, start, stop, step, open.Line, open.Column)
            : new ItemExpr(target, start!, open.Line, open.Column);
    }

    private (List<Expr> Args, List<(string, Expr)> Kwargs) ParseCallArgs()
    {
        Expect(TokenKind.Operator, "(");
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        var first = true;
        while (!Current.IsOperator(")"))
        {
            if (!first)
            {
                Expect(TokenKind.Operator, ",");
                if (Current.IsOperator(")"))
                {
                    break;
                }
            }

            first = false;
            if (Current.IsOperator("*") || Current.IsOperator("**"))
            {
                throw Error("unsupported template construct: *args/**kwargs in a call", Current);
            }

            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                var key = Next().Value;
                _i++;
                kwargs.Add((key, ParseExpression()));
            }
            else
            {
                if (kwargs.Count > 0)
                {
                    throw Error("positional argument follows keyword argument", Current);
                }

                args.Add(ParseExpression());
            }
        }

        Expect(TokenKind.Operator, ")");
        return (args, kwargs);
    }

    private CallExpr ParseCall(Expr callee)
    {
        var t = Current;
        var (args, kwargs) = ParseCallArgs();
        return new CallExpr(callee, args, kwargs, t.Line, t.Column);
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                node = ParseFilter(node);
            }
            else if (Current.IsName("is"))
            {
                node = ParseTest(node);
            }
            else if (Current.IsOperator("("))
            {
                node = ParseCall(node);
            }
            else
            {
                return node;
            }
        }
    }

    private FilterExpr ParseFilter(Expr? value, bool startsWithPipe = true)
    {
        var t = Current;
        if (startsWithPipe)
        {
            Expect(TokenKind.Operator, "|");
        }

        var name = ParseDottedName();
        if (!TemplateFilters.Exists(name))
        {
            throw Error($"unsupported filter '{name}'", t);
        }

        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        if (Current.IsOperator("("))
        {
            (args, kwargs) = ParseCallArgs();
        }

        return new FilterExpr(value, name, args, kwargs, t.Line, t.Column);
    }

    /// <summary>A filter or test name, which jinja2 lets carry dots (<c>x | a.b</c>).</summary>
    private string ParseDottedName()
    {
        var name = Expect(TokenKind.Name).Value;
        while (Current.IsOperator("."))
        {
            _i++;
            name += "." + Expect(TokenKind.Name).Value;
        }

        return name;
    }

    private TestExpr ParseTest(Expr value)
    {
        var t = Next();
        var negated = SkipName("not");
        var name = ParseDottedName();
        if (!TemplateTests.Exists(name))
        {
            throw Error($"unsupported test '{name}'", t);
        }

        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        var c = Current;
        if (c.IsOperator("("))
        {
            (args, kwargs) = ParseCallArgs();
        }
        else if ((c.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                  || c.IsOperator("[") || c.IsOperator("{"))
                 && !c.IsName("else") && !c.IsName("or") && !c.IsName("and"))
        {
            if (c.IsName("is"))
            {
                throw Error("you cannot chain multiple tests with 'is'", c);
            }

            args.Add(ParsePostfix(ParsePrimary()));
        }

        return new TestExpr(value, name, args, kwargs, negated, t.Line, t.Column);
    }
}
