/**
 * The test runner the conformance suite registers its cases with. `node:test` by default;
 * any runner with `describe` / `it` / `after` / `afterEach` of the same shape (Mocha,
 * Jest, Vitest) can be passed to {@link defineConformance}, and {@link collectingRunner}
 * turns the suite into plain functions for everything else.
 */
import * as nodeTest from 'node:test';

/** Options of one case: `todo` marks a known failure that is reported but does not fail the run. */
export interface CaseOptions {
  readonly todo?: string;
}

export interface Runner {
  describe(name: string, fn: () => void): void;
  it(name: string, options: CaseOptions, fn: () => Promise<void>): void;
  /** Runs after the enclosing `describe` (or after everything at the top level). */
  after(fn: () => Promise<void> | void): void;
  /** Runs after each case of the enclosing `describe`. */
  afterEach(fn: () => Promise<void> | void): void;
}

/** `node:test`. */
export const nodeTestRunner: Runner = {
  describe: (name, fn) => void nodeTest.describe(name, fn),
  it: (name, options, fn) => void nodeTest.it(name, options.todo === undefined ? {} : { todo: options.todo }, fn),
  after: (fn) => nodeTest.after(fn),
  afterEach: (fn) => nodeTest.afterEach(fn),
};

let current: Runner = nodeTestRunner;

/** Registers with `runner` while `register` runs (the suite's files call `describe`/`it` below). */
export function withRunner(runner: Runner, register: () => void): void {
  const previous = current;
  current = runner;
  try {
    register();
  } finally {
    current = previous;
  }
}

export function describe(name: string, fn: () => void): void {
  current.describe(name, fn);
}

export function it(name: string, optionsOrFn: CaseOptions | (() => Promise<void>), fn?: () => Promise<void>): void {
  if (typeof optionsOrFn === 'function') current.it(name, {}, optionsOrFn);
  else if (fn !== undefined) current.it(name, optionsOrFn, fn);
}

export function after(fn: () => Promise<void> | void): void {
  current.after(fn);
}

export function afterEach(fn: () => Promise<void> | void): void {
  current.afterEach(fn);
}

/** One case of the suite as a plain function. */
export interface ConformanceCase {
  /** `describe` names and the case name, joined by ` > `. */
  readonly name: string;
  readonly todo: string | undefined;
  /** Runs the case, then the `afterEach` hooks of its scopes; rejects when the case fails. */
  run(): Promise<void>;
}

interface Scope {
  readonly afterEach: (() => Promise<void> | void)[];
  readonly after: (() => Promise<void> | void)[];
}

/**
 * A runner that collects the cases instead of running them: `cases` in order, and
 * `finish()` for the `after` hooks (call it once every case ran).
 */
export function collectingRunner(): Runner & { readonly cases: ConformanceCase[]; finish(): Promise<void> } {
  const cases: ConformanceCase[] = [];
  const names: string[] = [];
  const scopes: Scope[] = [{ afterEach: [], after: [] }];
  const allAfter: (() => Promise<void> | void)[][] = [];
  const top = (): Scope => scopes[scopes.length - 1] as Scope;
  return {
    cases,
    describe(name, fn) {
      names.push(name);
      const scope: Scope = { afterEach: [], after: [] };
      scopes.push(scope);
      try {
        fn();
      } finally {
        scopes.pop();
        names.pop();
        allAfter.push(scope.after);
      }
    },
    it(name, options, fn) {
      const hooks = scopes.map((s) => s.afterEach);
      cases.push({
        name: [...names, name].join(' > '),
        todo: options.todo,
        async run() {
          try {
            await fn();
          } finally {
            for (const list of [...hooks].reverse()) for (const hook of list) await hook();
          }
        },
      });
    },
    after(fn) {
      top().after.push(fn);
    },
    afterEach(fn) {
      top().afterEach.push(fn);
    },
    async finish() {
      for (const list of [...allAfter, (scopes[0] as Scope).after]) for (const hook of list) await hook();
    },
  };
}
