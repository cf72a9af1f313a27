using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Unikernel.Generators;

/// <summary>Reads the <c>Configure</c> method of a <c>[Unikernel]</c> class into a <see cref="ConfigModel"/> (never runs it).</summary>
internal sealed class CSharpConfigReader
{
    private readonly ModelBuilder _builder;
    private readonly SemanticModel _model;
    private readonly CancellationToken _cancellationToken;
    private readonly Dictionary<string, int> _locals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _keyLocals = new(StringComparer.Ordinal);

    private CSharpConfigReader(SemanticModel model, CancellationToken cancellationToken)
    {
        _model = model;
        _builder = new ModelBuilder(model.Compilation);
        _cancellationToken = cancellationToken;
    }

    /// <summary>Reads the [Unikernel] class <paramref name="type"/> declared (with <paramref name="attribute"/>) by <paramref name="declaration"/>.</summary>
    public static ConfigModel Read(INamedTypeSymbol type, TypeDeclarationSyntax declaration, AttributeData? attribute, SemanticModel semanticModel, CancellationToken cancellationToken)
    {
        var name = attribute?.ConstructorArguments.FirstOrDefault().Value as string ?? type.Name;
        var @namespace = type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString();
        var location = LocationInfo.From(declaration.Identifier.GetLocation());
        var configure = type.GetMembers("Configure").OfType<IMethodSymbol>()
            .FirstOrDefault(m => m.IsStatic && m.Parameters.Length == 1 && KnownSymbols.Is(m.Parameters[0].Type, KnownSymbols.For(semanticModel.Compilation).Configuration));
        var syntax = configure?.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) as MethodDeclarationSyntax;
        // Configure may live in another part of the partial class: read it with that file's model.
        var model = syntax is not null && syntax.SyntaxTree != semanticModel.SyntaxTree
            ? semanticModel.Compilation.GetSemanticModel(syntax.SyntaxTree)
            : semanticModel;
        var reader = new CSharpConfigReader(model, cancellationToken);
        try
        {
            if (!declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                reader._builder.Report(Diagnostics.NotPartial, location, type.Name);
            }
            if (syntax is null || reader._builder.ConfigurationType is null)
            {
                reader._builder.Report(Diagnostics.MissingConfigure, location, type.Name);
            }
            else
            {
                reader.ReadBody(syntax);
            }
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception exception)
        {
            // A generator must never throw: report and carry on with what was read.
            reader._builder.Report(Diagnostics.InternalError, location, exception.GetType().Name + ": " + exception.Message);
        }
        return reader._builder.Build(@namespace, type.Name, name, location, "config.cs");
    }

    /// <summary>The class a declaration declares (for the analyzer's look for config.cs from unikernel.yaml).</summary>
    public static INamedTypeSymbol? DeclaredSymbol(Compilation compilation, ClassDeclarationSyntax declaration, CancellationToken cancellationToken) =>
        compilation.GetSemanticModel(declaration.SyntaxTree).GetDeclaredSymbol(declaration, cancellationToken);

    private void ReadBody(MethodDeclarationSyntax method)
    {
        if (method.ExpressionBody is { } arrow)
        {
            ReadStatementExpression(arrow.Expression);
            return;
        }
        foreach (var statement in method.Body?.Statements ?? default)
        {
            _cancellationToken.ThrowIfCancellationRequested();
            switch (statement)
            {
                case LocalDeclarationStatementSyntax local:
                    foreach (var variable in local.Declaration.Variables)
                    {
                        if (variable.Initializer is null)
                        {
                            _builder.Report(Diagnostics.UnsupportedSyntax, LocationInfo.From(variable), $"'{variable.Identifier.Text}' has no value");
                            continue;
                        }
                        ReadDeclaration(variable.Identifier.Text, variable.Initializer.Value);
                    }
                    break;
                case ExpressionStatementSyntax expression:
                    ReadStatementExpression(expression.Expression);
                    break;
                case EmptyStatementSyntax:
                    break;
                default:
                    _builder.Report(Diagnostics.UnsupportedSyntax, LocationInfo.From(statement), Describe(statement) + " cannot be read");
                    break;
            }
        }
    }

    private void ReadDeclaration(string variable, ExpressionSyntax value)
    {
        if (KeyName(value) is { } key)
        {
            _keyLocals[variable] = key;
            return;
        }
        var id = Evaluate(value, variable);
        if (id >= 0)
        {
            _locals[variable] = id;
            _builder.MarkTopLevel(id, variable);
        }
    }

    private void ReadStatementExpression(ExpressionSyntax expression)
    {
        if (expression is InvocationExpressionSyntax invocation && Method(invocation) is { Name: "Register" } method && IsConfiguration(method))
        {
            foreach (var argument in invocation.ArgumentList.Arguments)
            {
                _builder.AddJob(Evaluate(argument.Expression, null));
            }
            return;
        }
        if (expression is InvocationExpressionSyntax other && Method(other) is null)
        {
            return; // The compiler reports the broken call itself.
        }
        _builder.Report(Diagnostics.UnsupportedSyntax, LocationInfo.From(expression), "Only c.Register(...) calls are read as statements");
    }

    /// <summary>Reads an expression that provides an item; returns its id, or -1 after reporting why not.</summary>
    private int Evaluate(ExpressionSyntax expression, string? variable)
    {
        _cancellationToken.ThrowIfCancellationRequested();
        switch (expression)
        {
            case ParenthesizedExpressionSyntax parenthesized:
                return Evaluate(parenthesized.Expression, variable);
            case CastExpressionSyntax cast:
                return Evaluate(cast.Expression, variable);
            case PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.SuppressNullableWarningExpression } bang:
                return Evaluate(bang.Operand, variable);
            case IdentifierNameSyntax identifier when _locals.TryGetValue(identifier.Identifier.Text, out var id):
                return id;
            case InvocationExpressionSyntax invocation:
                return EvaluateInvocation(invocation, variable);
        }
        if (_model.GetDiagnostics(expression.Span, _cancellationToken).Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            return -1;
        }
        _builder.Report(Diagnostics.UnsupportedSyntax, LocationInfo.From(expression), $"'{Shorten(expression)}' is not a device, job or argument of this configuration");
        return -1;
    }

    private int EvaluateInvocation(InvocationExpressionSyntax invocation, string? variable)
    {
        var method = Method(invocation);
        if (method is null)
        {
            return -1; // Compile error: the compiler reports it.
        }
        var location = LocationInfo.From(invocation);
        if (IsConfiguration(method))
        {
            switch (method.Name)
            {
                case "Argument":
                    return ReadArgument(invocation, method, location);
                case "New":
                case "Main":
                    return ReadFunctor(invocation, method, variable, location);
                case "If":
                    return ReadIf(invocation, method, location);
                case "Match":
                    return ReadMatch(invocation, method, location);
            }
        }
        if (Catalogue.FromMethod(method, _builder.Known) is { } entry)
        {
            _builder.ReportProblems(entry);
            return ReadDevice(invocation, method, entry, location);
        }
        _builder.Report(Diagnostics.UnsupportedSyntax, location, $"'{Shorten(invocation)}' is not a call of the configuration DSL (a Configuration method or a [Device] extension)");
        return -1;
    }

    private int ReadArgument(InvocationExpressionSyntax invocation, IMethodSymbol method, LocationInfo? location)
    {
        var arguments = invocation.ArgumentList.Arguments;
        var type = method.TypeArguments[0];
        if (arguments.Count < 3 || Constant(arguments[0].Expression) is not string name || name.Length == 0)
        {
            _builder.Report(Diagnostics.NotConstant, location, "argument name");
            return -1;
        }
        var description = Constant(arguments[2].Expression) as string ?? "";
        var kind = ArgumentKind(type);
        if (kind is null)
        {
            _builder.Report(Diagnostics.UnsupportedArgumentType, LocationInfo.From(invocation), name, ModelBuilder.Display(type));
            return _builder.AddArgument(name, type, "string", "\"\"", "", description, location);
        }
        if (!TryDefault(arguments[1].Expression, kind, out var code, out var display))
        {
            _builder.Report(Diagnostics.NotConstant, LocationInfo.From(arguments[1]), $"default value of --{name}");
            code = kind == "string[]" ? "global::System.Array.Empty<string>()" : "default";
            display = "";
        }
        return _builder.AddArgument(name, type, kind, code, display, description, location);
    }

    internal static string? ArgumentKind(ITypeSymbol type) => type switch
    {
        { SpecialType: SpecialType.System_String } => "string",
        { SpecialType: SpecialType.System_Int32 } => "int",
        { SpecialType: SpecialType.System_Int64 } => "long",
        { SpecialType: SpecialType.System_Boolean } => "bool",
        { SpecialType: SpecialType.System_Double } => "double",
        IArrayTypeSymbol { ElementType.SpecialType: SpecialType.System_String, Rank: 1 } => "string[]",
        _ => null,
    };

    private bool TryDefault(ExpressionSyntax expression, string kind, out string code, out string display)
    {
        if (kind == "string[]")
        {
            var elements = new List<string>();
            IEnumerable<ExpressionSyntax> items = expression switch
            {
                CollectionExpressionSyntax collection => collection.Elements.OfType<ExpressionElementSyntax>().Select(e => e.Expression),
                ArrayCreationExpressionSyntax array => array.Initializer?.Expressions ?? default(SeparatedSyntaxList<ExpressionSyntax>),
                ImplicitArrayCreationExpressionSyntax implicitArray => implicitArray.Initializer.Expressions,
                _ => null!,
            };
            if (items is null)
            {
                code = display = "";
                return false;
            }
            foreach (var item in items)
            {
                if (Constant(item) is not string text)
                {
                    code = display = "";
                    return false;
                }
                elements.Add(text);
            }
            code = elements.Count == 0 ? "global::System.Array.Empty<string>()" : "new string[] { " + string.Join(", ", elements.Select(Literal)) + " }";
            display = string.Join(", ", elements);
            return true;
        }
        var value = _model.GetConstantValue(expression, _cancellationToken);
        if (!value.HasValue)
        {
            code = display = "";
            return false;
        }
        (code, display) = FormatConstant(value.Value, kind);
        return true;
    }

    internal static (string Code, string Display) FormatConstant(object? value, string kind) => kind switch
    {
        "string" => (Literal(value as string ?? ""), value as string ?? ""),
        "bool" => (value is true ? "true" : "false", value is true ? "true" : "false"),
        "int" => (Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture), Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""),
        "long" => (Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture) + "L", Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""),
        "double" => (DoubleCode(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)), Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""),
        _ => ("default", ""),
    };

    private static string DoubleCode(double value) =>
        double.IsNaN(value) ? "double.NaN"
        : double.IsPositiveInfinity(value) ? "double.PositiveInfinity"
        : double.IsNegativeInfinity(value) ? "double.NegativeInfinity"
        : value.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "d";

    internal static string Literal(string value) => SymbolDisplay.FormatLiteral(value, quote: true);

    private int ReadFunctor(InvocationExpressionSyntax invocation, IMethodSymbol method, string? variable, LocationInfo? location)
    {
        if (method.TypeArguments[0] is not INamedTypeSymbol type)
        {
            return -1;
        }
        var arguments = new List<(int, LocationInfo?)>();
        foreach (var argument in invocation.ArgumentList.Arguments)
        {
            arguments.Add((Evaluate(argument.Expression, null), LocationInfo.From(argument)));
        }
        _ = variable;
        return _builder.AddFunctor(type, arguments, null, location);
    }

    private int ReadDevice(InvocationExpressionSyntax invocation, IMethodSymbol method, CatalogueEntry entry, LocationInfo? location)
    {
        var given = new Dictionary<string, (int, LocationInfo?)>(StringComparer.Ordinal);
        var options = new Dictionary<string, (object?, LocationInfo?)>(StringComparer.Ordinal);
        string? name = null;
        var directory = "";
        var parameters = (method.ReducedFrom ?? method).Parameters.Skip(method.ReducedFrom is null ? 0 : 1).ToList();
        var arguments = invocation.ArgumentList.Arguments;
        for (var i = 0; i < arguments.Count; i++)
        {
            var argument = arguments[i];
            var parameter = argument.NameColon is { } nameColon
                ? parameters.FirstOrDefault(p => p.Name == nameColon.Name.Identifier.Text)
                : i < parameters.Count ? parameters[i] : null;
            if (parameter is null)
            {
                continue;
            }
            if (entry.Option(parameter.Name) is not null)
            {
                var value = _model.GetConstantValue(argument.Expression, _cancellationToken);
                if (value.HasValue)
                {
                    options[parameter.Name] = (value.Value, LocationInfo.From(argument.Expression));
                }
                else if (!_model.GetDiagnostics(argument.Span, _cancellationToken).Any(d => d.Severity == DiagnosticSeverity.Error))
                {
                    _builder.Report(Diagnostics.NotConstant, LocationInfo.From(argument), $"option '{parameter.Name}' of c.{method.Name}");
                }
                continue;
            }
            if (parameter.Type.SpecialType == SpecialType.System_String)
            {
                if (Constant(argument.Expression) is string text)
                {
                    if (parameter.Name == "name")
                    {
                        name = text;
                    }
                    else if (entry.IsCrunch)
                    {
                        directory = text;
                    }
                }
                else if (!(argument.Expression is LiteralExpressionSyntax { RawKind: (int)SyntaxKind.NullLiteralExpression }))
                {
                    _builder.Report(Diagnostics.NotConstant, LocationInfo.From(argument), $"'{parameter.Name}' of c.{method.Name}");
                }
                continue;
            }
            if (argument.Expression is LiteralExpressionSyntax { RawKind: (int)SyntaxKind.NullLiteralExpression })
            {
                continue;
            }
            given[parameter.Name] = (Evaluate(argument.Expression, null), LocationInfo.From(argument));
        }
        return _builder.AddDevice(entry, given, name, directory, location, options: options);
    }

    private int ReadIf(InvocationExpressionSyntax invocation, IMethodSymbol method, LocationInfo? location)
    {
        var arguments = invocation.ArgumentList.Arguments;
        if (arguments.Count != 3)
        {
            return -1;
        }
        if (arguments[0].Expression is not InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name.Identifier.Text: "Is" } access } condition
            || KeyName(access.Expression) is not { } key
            || condition.ArgumentList.Arguments.Count != 1
            || Constant(condition.ArgumentList.Arguments[0].Expression) is not string value)
        {
            _builder.Report(Diagnostics.UnsupportedSyntax, LocationInfo.From(arguments[0]), "The condition must be 'key.Is(\"value\")' with a configure-time key such as c.Target");
            return -1;
        }
        CheckKeyValue(key, value, condition.ArgumentList.Arguments[0]);
        var then = Evaluate(arguments[1].Expression, null);
        var otherwise = Evaluate(arguments[2].Expression, null);
        return _builder.AddChoice(method.TypeArguments[0], key, [new ChoiceCase(value, then)], otherwise, location);
    }

    private int ReadMatch(InvocationExpressionSyntax invocation, IMethodSymbol method, LocationInfo? location)
    {
        var arguments = invocation.ArgumentList.Arguments;
        if (arguments.Count < 2 || KeyName(arguments[0].Expression) is not { } key)
        {
            _builder.Report(Diagnostics.UnsupportedSyntax, location, "c.Match needs a configure-time key (c.Target or c.Key(...)) first");
            return -1;
        }
        var otherwise = Evaluate(arguments[1].Expression, null);
        var cases = new List<ChoiceCase>();
        foreach (var argument in arguments.Skip(2))
        {
            var caseArguments = argument.Expression switch
            {
                ObjectCreationExpressionSyntax creation => creation.ArgumentList?.Arguments,
                ImplicitObjectCreationExpressionSyntax creation => creation.ArgumentList.Arguments,
                _ => null,
            };
            if (caseArguments is not { Count: 2 } pair || Constant(pair[0].Expression) is not string value)
            {
                _builder.Report(Diagnostics.UnsupportedSyntax, LocationInfo.From(argument), "Each case must be 'new Case<T>(\"value\", device)'");
                continue;
            }
            CheckKeyValue(key, value, pair[0]);
            cases.Add(new ChoiceCase(value, Evaluate(pair[1].Expression, null)));
        }
        return _builder.AddChoice(method.TypeArguments[0], key, cases, otherwise, location);
    }

    /// <summary>c.Target.Is("solaris") or new Case&lt;T&gt;("sockets", ...): a value the key never has (UK0019).</summary>
    private void CheckKeyValue(string key, string value, ArgumentSyntax argument)
    {
        if (Resolver.ImpossibleKeyValue(key, value, _builder.TargetNames, _builder.Nets) is { } problem)
        {
            _builder.Report(Diagnostics.ImpossibleKeyValue, LocationInfo.From(argument), problem);
        }
    }

    /// <summary>The name of a configure-time key expression (<c>c.Target</c>, <c>c.Key("net", ...)</c>, a local holding one).</summary>
    private string? KeyName(ExpressionSyntax expression)
    {
        switch (expression)
        {
            case IdentifierNameSyntax identifier when _keyLocals.TryGetValue(identifier.Identifier.Text, out var key):
                return key;
            case MemberAccessExpressionSyntax { Name.Identifier.Text: "Target" } access
                when _model.GetSymbolInfo(access, _cancellationToken).Symbol is IPropertySymbol property && IsConfiguration(property):
                return "target";
            case InvocationExpressionSyntax invocation when Method(invocation) is { Name: "Key" } method && IsConfiguration(method):
                var arguments = invocation.ArgumentList.Arguments;
                if (arguments.Count == 3 && Constant(arguments[0].Expression) is string name && Constant(arguments[1].Expression) is string defaultValue)
                {
                    _builder.AddKey(name, defaultValue, Constant(arguments[2].Expression) as string ?? "");
                    return name;
                }
                _builder.Report(Diagnostics.NotConstant, LocationInfo.From(invocation), "key name and default value");
                return null;
            default:
                return null;
        }
    }

    private IMethodSymbol? Method(InvocationExpressionSyntax invocation) =>
        _model.GetSymbolInfo(invocation, _cancellationToken).Symbol as IMethodSymbol;

    private bool IsConfiguration(ISymbol symbol) => KnownSymbols.Is(symbol.ContainingType, _builder.Known.Configuration);

    private object? Constant(ExpressionSyntax expression)
    {
        var value = _model.GetConstantValue(expression, _cancellationToken);
        return value.HasValue ? value.Value : null;
    }

    /// <summary>How a statement reads in a message: "'if' statements", "Local functions", "Blocks".</summary>
    private static string Describe(StatementSyntax statement)
    {
        var first = statement.GetFirstToken();
        return statement switch
        {
            LocalFunctionStatementSyntax => "Local functions",
            BlockSyntax => "Blocks",
            LabeledStatementSyntax => "Labels",
            _ when SyntaxFacts.IsKeywordKind(first.Kind()) && !SyntaxFacts.IsPredefinedType(first.Kind()) => $"'{first.Text}' statements",
            _ => "Statements like this",
        };
    }

    private static string Shorten(SyntaxNode node)
    {
        var text = node.ToString();
        return text.Length <= 60 ? text : text.Substring(0, 57) + "...";
    }
}
