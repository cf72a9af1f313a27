using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

internal sealed record CatalogueImplementation(string[] Targets, string TypeName, string When, string SharedInstance);

/// <summary>A catalogue device, read from the attributes on a <c>Configuration</c> method (or a user's extension method).</summary>
internal sealed class CatalogueEntry(IMethodSymbol method, string kind, ITypeSymbol @interface, bool isDefault, bool isCrunch, CatalogueImplementation[] implementations, EquatableArray<CatalogueArgument> arguments)
{
    public IMethodSymbol Method { get; } = method;
    public string Kind { get; } = kind;
    public ITypeSymbol Interface { get; } = @interface;
    public bool IsDefault { get; } = isDefault;
    public bool IsCrunch { get; } = isCrunch;
    public CatalogueImplementation[] Implementations { get; } = implementations;
    public EquatableArray<CatalogueArgument> Arguments { get; } = arguments;
}

internal static class Catalogue
{
    public const string DeviceAttribute = "Unikernel.Config.DeviceAttribute";

    public static IReadOnlyList<CatalogueEntry> Read(INamedTypeSymbol configurationType, KnownSymbols known) =>
        configurationType.GetMembers().OfType<IMethodSymbol>().Select(m => FromMethod(m, known)).Where(e => e is not null).Select(e => e!).ToList();

    public static CatalogueEntry? FromMethod(IMethodSymbol method, KnownSymbols known)
    {
        var definition = method.ReducedFrom ?? method.OriginalDefinition;
        var attributes = definition.GetAttributes();
        var device = attributes.FirstOrDefault(a => KnownSymbols.Is(a.AttributeClass, known.DeviceAttribute));
        if (device is null || device.ConstructorArguments.Length != 2 || device.ConstructorArguments[0].Value is not string kind || device.ConstructorArguments[1].Value is not ITypeSymbol @interface)
        {
            return null;
        }
        var isDefault = device.NamedArguments.Any(a => a.Key == "IsDefault" && a.Value.Value is true);
        var isCrunch = attributes.Any(a => KnownSymbols.Is(a.AttributeClass, known.CrunchAttribute));
        var implementations = new List<CatalogueImplementation>();
        var arguments = new List<CatalogueArgument>();
        foreach (var attribute in attributes)
        {
            if (KnownSymbols.Is(attribute.AttributeClass, known.ImplementationAttribute) && attribute.ConstructorArguments.Length == 2)
            {
                    var targets = (attribute.ConstructorArguments[0].Value as string ?? "").Split([','], StringSplitOptions.RemoveEmptyEntries).Select(t => t.Trim()).ToArray();
                    var typeName = attribute.ConstructorArguments[1].Value as string ?? "";
                    var when = attribute.NamedArguments.FirstOrDefault(a => a.Key == "When").Value.Value as string ?? "";
                    var shared = attribute.NamedArguments.FirstOrDefault(a => a.Key == "SharedInstance").Value.Value as string ?? "";
                    implementations.Add(new CatalogueImplementation(targets, typeName, when, shared));
            }
            else if (KnownSymbols.Is(attribute.AttributeClass, known.RuntimeArgumentAttribute) && attribute.ConstructorArguments.Length == 4)
            {
                    arguments.Add(new CatalogueArgument(
                        attribute.ConstructorArguments[0].Value as string ?? "",
                        attribute.ConstructorArguments[1].Value as string ?? "",
                        attribute.ConstructorArguments[2].Value as string ?? "",
                        attribute.ConstructorArguments[3].Value as string ?? ""));
            }
        }
        return new CatalogueEntry(definition, kind, @interface, isDefault, isCrunch, [.. implementations], arguments.ToEquatableArray());
    }
}
