using System;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Rename;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace Unikernel.Generators.CodeFixes;

/// <summary>
/// Fixes for the config.cs mistakes whose fix the message spells out. What each needs comes with the diagnostic (its
/// "fix" property, written by the generator's resolver): UK0001 the statement to add, UK0005 the old and the new name,
/// UK0012 the parameter and the candidates.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(UnikernelCodeFixProvider)), Shared]
public sealed class UnikernelCodeFixProvider : CodeFixProvider
{
    private const string FixProperty = "fix";

    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ["UK0001", "UK0005", "UK0010", "UK0012"];

    // Each fix depends on its own diagnostic's data (names, positions): no fix-all.
    public override FixAllProvider? GetFixAllProvider() => null;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }
        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: false);
            diagnostic.Properties.TryGetValue(FixProperty, out var fix);
            switch (diagnostic.Id)
            {
                case "UK0010" when root.FindToken(diagnostic.Location.SourceSpan.Start).Parent is ClassDeclarationSyntax declaration:
                    context.RegisterCodeFix(
                        CodeAction.Create($"Make '{declaration.Identifier.Text}' partial", _ => MakePartial(context.Document, root, declaration), "UK0010"),
                        diagnostic);
                    break;
                case "UK0001" when fix is { Length: > 0 }:
                    RegisterAddDevice(context, root, node, fix, diagnostic);
                    break;
                case "UK0005" when fix is { Length: > 0 } && Split(fix) is (string oldName, string newName):
                    RegisterRename(context, root, node, oldName, newName, diagnostic);
                    break;
                case "UK0012" when fix is { Length: > 0 } && Split(fix) is (string parameter, string candidates):
                    await RegisterPassCandidatesAsync(context, node, parameter, candidates.Split(','), diagnostic).ConfigureAwait(false);
                    break;
            }
        }
    }

    private static (string, string)? Split(string fix)
    {
        var bar = fix.IndexOf('|');
        return bar < 0 ? null : (fix.Substring(0, bar), fix.Substring(bar + 1));
    }

    // ---- UK0010: make the class partial ---------------------------------------------------------------------------

    private static Task<Document> MakePartial(Document document, SyntaxNode root, ClassDeclarationSyntax declaration)
    {
        var partial = Token(SyntaxKind.PartialKeyword).WithTrailingTrivia(Space);
        ClassDeclarationSyntax updated;
        if (declaration.Modifiers.Count == 0)
        {
            // 'partial' takes the indentation the 'class' keyword had.
            partial = partial.WithLeadingTrivia(declaration.Keyword.LeadingTrivia);
            updated = declaration.WithKeyword(declaration.Keyword.WithLeadingTrivia()).WithModifiers(TokenList(partial));
        }
        else
        {
            // 'partial' goes last, right before 'class'.
            updated = declaration.WithModifiers(declaration.Modifiers.Add(partial));
        }
        return Task.FromResult(document.WithSyntaxRoot(root.ReplaceNode(declaration, updated)));
    }

    // ---- UK0001: add the missing device -----------------------------------------------------------------------------

    private static void RegisterAddDevice(CodeFixContext context, SyntaxNode root, SyntaxNode node, string statement, Diagnostic diagnostic)
    {
        // The statement that uses the item, directly in Configure's body: the device is declared just before it.
        var anchor = node.AncestorsAndSelf().OfType<StatementSyntax>().FirstOrDefault(s => s.Parent is BlockSyntax { Parent: MethodDeclarationSyntax });
        if (anchor?.Parent is not BlockSyntax { Parent: MethodDeclarationSyntax { ParameterList.Parameters.Count: 1 } method } block)
        {
            return;
        }
        // The catalogue suggestion is written for 'c': use Configure's own parameter name.
        var configuration = method.ParameterList.Parameters[0].Identifier.Text;
        var text = configuration == "c" ? statement : statement.Replace(" c.", " " + configuration + ".");
        if (ParseStatement(text) is not LocalDeclarationStatementSyntax declaration || declaration.ContainsDiagnostics)
        {
            return;
        }
        var name = declaration.Declaration.Variables[0].Identifier.Text;
        var taken = block.Statements.OfType<LocalDeclarationStatementSyntax>().SelectMany(s => s.Declaration.Variables).Select(v => v.Identifier.Text)
            .Concat(method.ParameterList.Parameters.Select(p => p.Identifier.Text)).ToImmutableHashSet();
        var fresh = name;
        for (var i = 2; taken.Contains(fresh); i++)
        {
            fresh = name + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (fresh != name)
        {
            declaration = declaration.WithDeclaration(declaration.Declaration.WithVariables(
                SingletonSeparatedList(declaration.Declaration.Variables[0].WithIdentifier(Identifier(fresh).WithTriviaFrom(declaration.Declaration.Variables[0].Identifier)))));
        }
        declaration = declaration.WithLeadingTrivia(anchor.GetLeadingTrivia()).WithTrailingTrivia(ElasticCarriageReturnLineFeed).WithAdditionalAnnotations(Formatter.Annotation);
        context.RegisterCodeFix(
            CodeAction.Create($"Add '{declaration.ToString().Trim()}'", cancellationToken => InsertBefore(context.Document, root, block, anchor, declaration, cancellationToken), "UK0001"),
            diagnostic);
    }

    private static async Task<Document> InsertBefore(Document document, SyntaxNode root, BlockSyntax block, StatementSyntax anchor, StatementSyntax statement, CancellationToken cancellationToken)
    {
        var updated = block.WithStatements(block.Statements.Insert(block.Statements.IndexOf(anchor), statement));
        var changed = document.WithSyntaxRoot(root.ReplaceNode(block, updated));
        return await Formatter.FormatAsync(changed, Formatter.Annotation, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    // ---- UK0005: rename ----------------------------------------------------------------------------------------------

    private static void RegisterRename(CodeFixContext context, SyntaxNode root, SyntaxNode node, string oldName, string newName, Diagnostic diagnostic)
    {
        var title = $"Rename '{oldName}' to '{newName}'";
        // A name given as a string (c.Time("clock"), c.Argument("ticks", ...)): change the literal.
        var literal = node.DescendantNodesAndSelf().OfType<LiteralExpressionSyntax>()
            .FirstOrDefault(l => l.IsKind(SyntaxKind.StringLiteralExpression) && l.Token.ValueText == oldName);
        if (literal is not null)
        {
            context.RegisterCodeFix(
                CodeAction.Create(title, _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(literal,
                    LiteralExpression(SyntaxKind.StringLiteralExpression, Literal(newName)).WithTriviaFrom(literal)))), "UK0005"),
                diagnostic);
            return;
        }
        // A name taken from the variable (var clock = c.Time();): rename the local and its uses.
        if (node.AncestorsAndSelf().OfType<VariableDeclaratorSyntax>().FirstOrDefault() is { } variable && variable.Identifier.Text == oldName)
        {
            context.RegisterCodeFix(
                CodeAction.Create(title, cancellationToken => RenameLocal(context.Document, variable, newName, cancellationToken), "UK0005"),
                diagnostic);
        }
    }

    private static async Task<Solution> RenameLocal(Document document, VariableDeclaratorSyntax variable, string newName, CancellationToken cancellationToken)
    {
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var symbol = model?.GetDeclaredSymbol(variable, cancellationToken);
        return symbol is null
            ? document.Project.Solution
            : await Renamer.RenameSymbolAsync(document.Project.Solution, symbol, default(SymbolRenameOptions), newName, cancellationToken).ConfigureAwait(false);
    }

    // ---- UK0012: pass the device you mean ----------------------------------------------------------------------------

    private static async Task RegisterPassCandidatesAsync(CodeFixContext context, SyntaxNode node, string parameter, string[] candidates, Diagnostic diagnostic)
    {
        if (node.DescendantNodesAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } invocation)
        {
            return;
        }
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (model is null)
        {
            return;
        }
        var arguments = invocation.ArgumentList.Arguments;
        foreach (var candidate in candidates)
        {
            // Only a local of Configure can be passed (an item named with a string has no variable of that name).
            if (!model.LookupSymbols(invocation.SpanStart, name: candidate).Any(s => s is ILocalSymbol))
            {
                continue;
            }
            ArgumentSyntax argument;
            int index;
            if (parameter.StartsWith("@", StringComparison.Ordinal))
            {
                // A catalogue device: by its method's parameter name, after the others.
                argument = Argument(NameColon(IdentifierName(parameter.Substring(1))), default, IdentifierName(candidate));
                index = arguments.Count;
            }
            else if (int.TryParse(parameter, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index) && index <= arguments.Count)
            {
                // A class: positionally, at the constructor parameter's place.
                argument = Argument(IdentifierName(candidate));
            }
            else
            {
                continue; // Earlier parameters are wired by type: the position cannot be written without them.
            }
            var updated = invocation.WithArgumentList(invocation.ArgumentList.WithArguments(arguments.Insert(index, argument)));
            context.RegisterCodeFix(
                CodeAction.Create($"Pass '{candidate}'", async cancellationToken =>
                {
                    var root = await context.Document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
                    return root is null ? context.Document : context.Document.WithSyntaxRoot(root.ReplaceNode(invocation, updated));
                }, "UK0012:" + candidate),
                diagnostic);
        }
    }
}
