using System.Runtime.CompilerServices;
using System.Text;

namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// Variables of one frame. jinja2 opens a new frame for each loop iteration, macro call and with block;
/// <c>if</c> does not, so a <c>set</c> inside an <c>if</c> is seen after it but one inside a loop is not.
/// </summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
        {
            if (s._vars.TryGetValue(name, out value))
            {
                return true;
            }
        }

        value = null;
        return false;
    }

    public void Set(string name, object? value) => _vars[name] = value;
}

internal enum Flow
{
    Normal,
    Break,
    Continue,
}

/// <summary>The <c>loop</c> variable of a for loop, with jinja2's attributes.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items)
{
    public int Index0 { get; set; }

    public IReadOnlyList<object?> Items { get; } = items;

    private object? _lastChanged = new Undefined("");

    public object? Get(string name) => name switch
    {
        "index" => (long)(Index0 + 1),
        "index0" => (long)Index0,
        "revindex" => (long)(Items.Count - Index0),
        "revindex0" => (long)(Items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == Items.Count - 1,
        "length" => (long)Items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => Index0 + 1 < Items.Count ? Items[Index0 + 1] : new Undefined("there is no next item"),
        "cycle" => new BuiltinFunction("loop.cycle", args =>
        {
            if (args.Positional.Count == 0)
            {
                throw new TemplateRuntimeException("no items for cycling given");
            }

            return args.Positional[Index0 % args.Positional.Count];
        }),
        "changed" => new BuiltinFunction("loop.changed", args =>
        {
            var value = args.Positional.ToArray();
            if (_lastChanged is object?[] last && Py.Equals(last, value))
            {
                return false;
            }

            _lastChanged = value;
            return true;
        }),
        _ => new Undefined($"'LoopContext' object has no attribute '{name}'"),
    };
}

/// <summary>A <c>{% macro %}</c>: renders its body in a frame of its own over the frame it was defined in.</summary>
internal sealed class MacroValue(TemplateInterpreter interpreter, MacroNode node, Scope closure) : TemplateCallable
{
    public override string Name => node.Name;

    public override object? Invoke(CallArgs args)
    {
        var scope = new Scope(closure);
        var extra = new List<object?>();
        for (var i = 0; i < args.Positional.Count; i++)
        {
            if (i < node.Parameters.Count)
            {
                scope.Set(node.Parameters[i].Name, args.Positional[i]);
            }
            else
            {
                extra.Add(args.Positional[i]);
            }
        }

        var kwargs = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in args.Named)
        {
            var index = node.Parameters.FindIndex(p => p.Name == key);
            if (index < 0 && key == "caller")
            {
                // A {% call %} block hands its body to the macro as `caller`.
                scope.Set(key, value);
            }
            else if (index < 0)
            {
                kwargs[key] = value;
            }
            else if (index < args.Positional.Count)
            {
                throw new TemplateRuntimeException($"macro '{node.Name}' got multiple values for argument '{key}'");
            }
            else
            {
                scope.Set(key, value);
            }
        }

        for (var i = args.Positional.Count; i < node.Parameters.Count; i++)
        {
            var (name, def) = node.Parameters[i];
            if (!args.Named.ContainsKey(name))
            {
                scope.Set(name, def is null
                    ? new Undefined($"parameter '{name}' was not provided")
                    : interpreter.Eval(def, scope));
            }
        }

        scope.Set("varargs", extra.ToArray());
        scope.Set("kwargs", kwargs);
        var sb = new StringBuilder();
        interpreter.EnterCall(node.Name);
        try
        {
            interpreter.Exec(node.Body, scope, sb);
        }
        finally
        {
            interpreter.ExitCall();
        }

        return sb.ToString();
    }
}

/// <summary>Tree-walking evaluator of a parsed template, with Python's value semantics (see <see cref="Py"/>).</summary>
internal sealed class TemplateInterpreter(TimeProvider time)
{
    // A template comes from the model file, not from us: a macro that recurses without end must fail the
    // request, not overflow the worker's stack (Python would raise RecursionError near this depth too).
    private const int MaxCallDepth = 100;

    private int _callDepth;
    private long _steps;

    public TimeProvider Time { get; } = time;

    /// <summary>Counts one step of the render against <see cref="TemplateLimits.MaxSteps"/>.</summary>
    private void Step(Node node)
    {
        if (++_steps > TemplateLimits.MaxSteps)
            throw ChatTemplateException.At($"the template ran past its limit of {TemplateLimits.MaxSteps} steps", node.Line, node.Column);
    }

    /// <summary>The output (or a captured block) must stay within <see cref="TemplateLimits.MaxStringChars"/>.</summary>
    private static void CheckOutput(StringBuilder output, Node node)
    {
        if (output.Length > TemplateLimits.MaxStringChars)
            throw ChatTemplateException.At($"the template's output is past its limit of {TemplateLimits.MaxStringChars} characters", node.Line, node.Column);
    }

    public void EnterCall(string macro)
    {
        if (++_callDepth > MaxCallDepth)
        {
            _callDepth--;
            throw new TemplateRuntimeException($"maximum recursion depth exceeded in macro '{macro}' (more than {MaxCallDepth} nested calls)");
        }
    }

    public void ExitCall() => _callDepth--;

    public string Render(List<Node> body, IReadOnlyDictionary<string, object?> variables)
    {
        var globals = new Scope(null);
        TemplateGlobals.Register(globals, this);
        var root = new Scope(globals);
        foreach (var (name, value) in variables)
        {
            root.Set(name, Py.FromClr(value));
        }

        var sb = new StringBuilder();
        Exec(body, root, sb);
        return sb.ToString();
    }

    public Flow Exec(List<Node> nodes, Scope scope, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            var flow = ExecNode(node, scope, output);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }

    private Flow ExecNode(Node node, Scope scope, StringBuilder output)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        Step(node);
        switch (node)
        {
            case TextNode text:
                output.Append(text.Text);
                CheckOutput(output, node);
                return Flow.Normal;
            case PrintNode print:
                output.Append(Py.Str(Eval(print.Value, scope)));
                CheckOutput(output, node);
                return Flow.Normal;
            case IfNode ifNode:
                foreach (var (test, body) in ifNode.Branches)
                {
                    if (Py.Truthy(Eval(test, scope)))
                    {
                        return Exec(body, scope, output);
                    }
                }

                return ifNode.Else is null ? Flow.Normal : Exec(ifNode.Else, scope, output);
            case ForNode forNode:
                ExecFor(forNode, scope, output);
                return Flow.Normal;
            case SetNode set:
                Assign(set.Target, Eval(set.Value, scope), scope);
                return Flow.Normal;
            case SetBlockNode setBlock:
                Assign(setBlock.Target, Capture(setBlock.Body, new Scope(scope), setBlock.Filters), scope);
                return Flow.Normal;
            case MacroNode macro:
                scope.Set(macro.Name, new MacroValue(this, macro, scope));
                return Flow.Normal;
            case CallBlockNode callBlock:
                var callee = Eval(callBlock.Call.Callee, scope);
                if (callee is not MacroValue)
                {
                    throw ChatTemplateException.At($"'{{% call %}}' needs a macro, got '{Py.TypeName(callee)}'", callBlock.Line, callBlock.Column);
                }

                var callArgs = BuildArgs(Describe(callBlock.Call.Callee), callBlock.Call.Args, callBlock.Call.Kwargs, scope);
                callArgs.Named["caller"] = new MacroValue(this, callBlock.Caller, scope);
                output.Append(Py.Str(At(callBlock, () => ((MacroValue)callee).Invoke(callArgs))));
                CheckOutput(output, node);
                return Flow.Normal;
            case WithNode with:
                var inner = new Scope(scope);
                foreach (var (target, value) in with.Assignments)
                {
                    // jinja2 evaluates each value in the outer frame.
                    Assign(target, Eval(value, scope), inner);
                }

                return Exec(with.Body, inner, output);
            case FilterBlockNode filterBlock:
                output.Append(Py.Str(Capture(filterBlock.Body, scope, filterBlock.Filters)));
                CheckOutput(output, node);
                return Flow.Normal;
            case BreakNode:
                return Flow.Break;
            case ContinueNode:
                return Flow.Continue;
            default:
                throw ChatTemplateException.At($"unsupported node '{node.GetType().Name}'", node.Line, node.Column);
        }
    }

    private object? Capture(List<Node> body, Scope scope, List<FilterExpr> filters)
    {
        var sb = new StringBuilder();
        Exec(body, scope, sb);
        object? value = sb.ToString();
        foreach (var f in filters)
        {
            value = ApplyFilter(f, value, scope);
        }

        return value;
    }

    private void ExecFor(ForNode node, Scope scope, StringBuilder output)
    {
        var source = At(node.Iter, () => Py.Iterate(Eval(node.Iter, scope)));
        IReadOnlyList<object?> items = source;
        if (node.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (var item in source)
            {
                var probe = new Scope(scope);
                Assign(node.Target, item, probe);
                if (Py.Truthy(Eval(node.Filter, probe)))
                {
                    kept.Add(item);
                }
            }

            items = kept;
        }
        else
        {
            // The body may rebind the iterated name; iterate a snapshot as Python iterates the original object.
            items = [.. source];
        }

        if (items.Count == 0)
        {
            if (node.Else is not null)
            {
                Exec(node.Else, scope, output);
            }

            return;
        }

        var loop = new LoopContext(items);
        for (var i = 0; i < items.Count; i++)
        {
            loop.Index0 = i;
            var frame = new Scope(scope);
            frame.Set("loop", loop);
            Assign(node.Target, items[i], frame);
            if (Exec(node.Body, frame, output) == Flow.Break)
            {
                break;
            }
        }
    }

    private void Assign(Target target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameTarget name:
                scope.Set(name.Name, value);
                break;
            case NamespaceTarget ns:
                if (!scope.TryGet(ns.Name, out var obj) || obj is not TemplateNamespace nsValue)
                {
                    throw ChatTemplateException.At(
                        $"cannot assign attribute on non-namespace object ('{ns.Name}.{ns.Attribute}')", ns.Line, ns.Column);
                }

                nsValue.Attributes[ns.Attribute] = value;
                break;
            case TupleTarget tuple:
                var items = At(tuple, () => Py.Iterate(value));
                if (items.Count != tuple.Items.Count)
                {
                    var msg = items.Count > tuple.Items.Count
                        ? $"too many values to unpack (expected {tuple.Items.Count})"
                        : $"not enough values to unpack (expected {tuple.Items.Count}, got {items.Count})";
                    throw ChatTemplateException.At(msg, tuple.Line, tuple.Column);
                }

                for (var i = 0; i < items.Count; i++)
                {
                    Assign(tuple.Items[i], items[i], scope);
                }

                break;
        }
    }

    private static T At<T>(Node node, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (TemplateRuntimeException e)
        {
            throw ChatTemplateException.At(e.Message, node.Line, node.Column);
        }
    }

    public object? Eval(Expr expr, Scope scope)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        Step(expr);
        try
        {
            return EvalCore(expr, scope);
        }
        catch (TemplateRuntimeException e)
        {
            throw ChatTemplateException.At(e.Message, expr.Line, expr.Column);
        }
        catch (ChatTemplateException e) when (e.RaisedByTemplate && e.Line is null)
        {
            throw new ChatTemplateException(e.Message, expr.Line, expr.Column, raisedByTemplate: true);
        }
    }

    private object? EvalCore(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case ConstExpr c:
                return c.Value;
            case NameExpr n:
                return scope.TryGet(n.Name, out var v) ? v : new Undefined($"'{n.Name}' is undefined");
            case ListExpr list:
                return list.Items.Select(i => Eval(i, scope)).ToList();
            case TupleExpr tuple:
                return tuple.Items.Select(i => Eval(i, scope)).ToArray();
            case DictExpr dict:
                var d = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, val) in dict.Pairs)
                {
                    if (Eval(k, scope) is not string key)
                    {
                        throw new TemplateRuntimeException("unsupported template construct: dict keys other than strings");
                    }

                    d[key] = Eval(val, scope);
                }

                return d;
            case AttrExpr attr:
                return TemplateMembers.GetAttr(Eval(attr.Target, scope), attr.Attribute);
            case ItemExpr item:
                return TemplateMembers.GetItem(Eval(item.Target, scope), Eval(item.Key, scope));
            case SliceExpr slice:
                return TemplateMembers.Slice(
                    Eval(slice.Target, scope),
                    slice.Start is null ? null : Eval(slice.Start, scope),
                    slice.Stop is null ? null : Eval(slice.Stop, scope),
                    slice.Step is null ? null : Eval(slice.Step, scope));
            case CallExpr call:
                var callee = Eval(call.Callee, scope);
                var args = BuildArgs(Describe(call.Callee), call.Args, call.Kwargs, scope);
                return callee switch
                {
                    TemplateCallable f => f.Invoke(args),
                    Undefined u => throw new TemplateRuntimeException(u.Hint),
                    _ => throw new TemplateRuntimeException($"'{Py.TypeName(callee)}' object is not callable"),
                };
            case FilterExpr filter:
                return ApplyFilter(filter, filter.Value is null ? null : Eval(filter.Value, scope), scope);
            case TestExpr test:
                var result = TemplateTests.Apply(test.Name, Eval(test.Value, scope), BuildArgs(test.Name, test.Args, test.Kwargs, scope));
                return test.Negated ? !result : result;
            case BinaryExpr bin:
                return EvalBinary(bin, scope);
            case UnaryExpr un:
                var operand = Eval(un.Operand, scope);
                return un.Op switch
                {
                    "not" => !Py.Truthy(operand),
                    "-" => TemplateOperators.Negate(operand),
                    _ => TemplateOperators.Plus(operand),
                };
            case CompareExpr cmp:
                var left = Eval(cmp.First, scope);
                foreach (var (op, operandExpr) in cmp.Rest)
                {
                    var right = Eval(operandExpr, scope);
                    if (!TemplateOperators.Compare(op, left, right))
                    {
                        return false;
                    }

                    left = right;
                }

                return true;
            case CondExpr cond:
                if (Py.Truthy(Eval(cond.Test, scope)))
                {
                    return Eval(cond.Then, scope);
                }

                return cond.Else is null
                    ? new Undefined($"the inline if-expression on line {cond.Line} evaluated to false and no else section was defined.")
                    : Eval(cond.Else, scope);
            default:
                throw new TemplateRuntimeException($"unsupported expression '{expr.GetType().Name}'");
        }
    }

    private static string Describe(Expr callee) => callee switch
    {
        NameExpr n => n.Name,
        AttrExpr a => a.Attribute,
        _ => "object",
    };

    private object? EvalBinary(BinaryExpr bin, Scope scope)
    {
        var left = Eval(bin.Left, scope);
        switch (bin.Op)
        {
            // Python's and/or return an operand, not a bool.
            case "and":
                return Py.Truthy(left) ? Eval(bin.Right, scope) : left;
            case "or":
                return Py.Truthy(left) ? left : Eval(bin.Right, scope);
            default:
                return TemplateOperators.Binary(bin.Op, left, Eval(bin.Right, scope));
        }
    }

    private CallArgs BuildArgs(string callee, List<Expr> args, List<(string Name, Expr Value)> kwargs, Scope scope)
    {
        var positional = new List<object?>(args.Count);
        foreach (var a in args)
        {
            positional.Add(Eval(a, scope));
        }

        var named = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in kwargs)
        {
            named[name] = Eval(value, scope);
        }

        return new CallArgs(callee, positional, named);
    }

    private object? ApplyFilter(FilterExpr filter, object? value, Scope scope)
    {
        var args = BuildArgs(filter.Name, filter.Args, filter.Kwargs, scope);
        try
        {
            return TemplateFilters.Apply(filter.Name, value, args);
        }
        catch (TemplateRuntimeException e)
        {
            throw ChatTemplateException.At(e.Message, filter.Line, filter.Column);
        }
    }
}
