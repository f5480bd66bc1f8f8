/**
 * A synchronous context manager: `context.with(ctx, fn)` makes `ctx` active while `fn` runs
 * synchronously, and restores the previous context after. It does not follow awaits or callbacks
 * (that needs AsyncLocalStorage, whose async hooks cost every promise of the process; the services
 * carry the context explicitly across the awaits that matter instead).
 *
 * @module
 */
import { type Context, type ContextManager, ROOT_CONTEXT } from "@opentelemetry/api";

export class SyncContextManager implements ContextManager {
  #current: Context = ROOT_CONTEXT;

  active(): Context {
    return this.#current;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.#current;
    this.#current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#current = previous;
    }
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== "function") return target;
    const manager = this;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    const bound = function (this: unknown, ...args: unknown[]) {
      return manager.with(context, () => fn.apply(this, args));
    };
    return bound as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.#current = ROOT_CONTEXT;
    return this;
  }
}
