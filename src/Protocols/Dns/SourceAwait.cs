using System;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// Awaits a device's <see cref="ValueTask"/> by talking to its <see cref="IValueTaskSource"/> directly (issue 17): the
/// BCL's ValueTask awaiters also handle a Task-backed ValueTask, and that branch links the whole Task machinery and the
/// thread pool into an image even when no Task is ever made (the unix stack's TCP operations are hand-written sources).
/// A Task-backed ValueTask (the direct stack's and the loopback test stack's <c>async ValueTask</c> methods) is awaited
/// the ordinary way unless the <see cref="TaskBackedSwitch"/> trimming switch is off (the unix dns image sets it off).
/// The continuation runs where the operation completes; no context is captured (as <c>ConfigureAwait(false)</c>).
/// </summary>
internal static class SourceAwait
{
    public const string TaskBackedSwitch = "Unikernel.Dns.TaskBackedValueTasks";

    [System.Diagnostics.CodeAnalysis.FeatureSwitchDefinition(TaskBackedSwitch)]
    public static bool TaskBacked => !AppContext.TryGetSwitch(TaskBackedSwitch, out var enabled) || enabled;

    public static Awaitable On(ValueTask task) => new(task);

    public static Awaitable<T> On<T>(ValueTask<T> task) => new(task);

    private static readonly Action<object?> s_invoke = static state => ((Action)state!)();

    internal static NotSupportedException TaskBackedOff() =>
        new("a Task-backed ValueTask, but this image was built without them (" + TaskBackedSwitch + ")");

    public readonly struct Awaitable(ValueTask task) : ICriticalNotifyCompletion
    {
        [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_obj")]
        private static extern ref object? Obj(ref ValueTask task);

        [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_token")]
        private static extern ref short Token(ref ValueTask task);

        public Awaitable GetAwaiter() => this;

        public bool IsCompleted
        {
            get
            {
                var t = task;
                return Obj(ref t) switch
                {
                    null => true,
                    IValueTaskSource source => source.GetStatus(Token(ref t)) != ValueTaskSourceStatus.Pending,
                    _ => TaskBacked ? t.IsCompleted : throw TaskBackedOff(),
                };
            }
        }

        public void GetResult()
        {
            var t = task;
            switch (Obj(ref t))
            {
                case null:
                    return;
                case IValueTaskSource source:
                    source.GetResult(Token(ref t));
                    return;
                default:
                    if (!TaskBacked)
                    {
                        throw TaskBackedOff();
                    }
                    t.ConfigureAwait(false).GetAwaiter().GetResult();
                    return;
            }
        }

        public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

        public void UnsafeOnCompleted(Action continuation)
        {
            var t = task;
            switch (Obj(ref t))
            {
                case null:
                    continuation();
                    return;
                case IValueTaskSource source:
                    source.OnCompleted(s_invoke, continuation, Token(ref t), ValueTaskSourceOnCompletedFlags.None);
                    return;
                default:
                    if (!TaskBacked)
                    {
                        throw TaskBackedOff();
                    }
                    t.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(continuation);
                    return;
            }
        }
    }

    public readonly struct Awaitable<T>(ValueTask<T> task) : ICriticalNotifyCompletion
    {
        [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_obj")]
        private static extern ref object? Obj(ref ValueTask<T> task);

        [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_token")]
        private static extern ref short Token(ref ValueTask<T> task);

        [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_result")]
        private static extern ref T Result(ref ValueTask<T> task);

        public Awaitable<T> GetAwaiter() => this;

        public bool IsCompleted
        {
            get
            {
                var t = task;
                return Obj(ref t) switch
                {
                    null => true,
                    IValueTaskSource<T> source => source.GetStatus(Token(ref t)) != ValueTaskSourceStatus.Pending,
                    _ => TaskBacked ? t.IsCompleted : throw TaskBackedOff(),
                };
            }
        }

        public T GetResult()
        {
            var t = task;
            return Obj(ref t) switch
            {
                null => Result(ref t),
                IValueTaskSource<T> source => source.GetResult(Token(ref t)),
                _ => TaskBacked ? t.ConfigureAwait(false).GetAwaiter().GetResult() : throw TaskBackedOff(),
            };
        }

        public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

        public void UnsafeOnCompleted(Action continuation)
        {
            var t = task;
            switch (Obj(ref t))
            {
                case null:
                    continuation();
                    return;
                case IValueTaskSource<T> source:
                    source.OnCompleted(s_invoke, continuation, Token(ref t), ValueTaskSourceOnCompletedFlags.None);
                    return;
                default:
                    if (!TaskBacked)
                    {
                        throw TaskBackedOff();
                    }
                    t.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(continuation);
                    return;
            }
        }
    }
}
