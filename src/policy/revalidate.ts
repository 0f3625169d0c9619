/**
 * Live re-validation: every connection is re-checked with the app's
 * `revalidate.check(principal)` every `intervalMs` (± jitter), for sessions the app
 * ends without calling `revoke` (logout elsewhere, a ban, a role change).
 *
 * One deadline per connection on the layer's shared deadline queue (one timer
 * whatever the number of sockets). Due connections are taken `batchSize` at a
 * time and grouped by principal (id, session, token): one `check` per group, at
 * most `concurrency` in flight. `false` ends the group's connections with
 * `revoked`; a principal with the same id downgrades them; a throw or a timeout
 * ends them with `unavailable` (or keeps them, with `onError: 'keep'`).
 */
import type { Clock } from '../core/clock.js';
import type { DeadlineQueue } from '../core/deadlines.js';
import { describeError } from '../core/logger.js';
import { isThenable } from '../core/thenable.js';
import type { Logger, Principal } from '../core/types.js';
import { AuthError } from '../errors.js';
import type { Outcome as OutcomeType } from './decide.js';
import { Outcome } from './decide.js';
import type { ResolvedRevalidate } from './options.js';
import type { AuthzConnection } from './state.js';
import type { AuthorizedPrincipal, Claims, RevalidateAnswer } from './types.js';

export interface RevalidatorDeps {
  readonly clock: Clock;
  readonly deadlines: DeadlineQueue;
  readonly logger: Logger;
  readonly random: () => number;
  /** The connection stays, with `principal` (the same object, or a downgrade). */
  keep(state: AuthzConnection, principal: Principal): void;
  /** The connection ends with `error`. */
  end(state: AuthzConnection, error: AuthError, outcome: OutcomeType): void;
}

export interface Revalidator {
  schedule(state: AuthzConnection): void;
  unschedule(state: AuthzConnection): void;
  close(): void;
}

type Answer = { kind: 'answer'; value: unknown } | { kind: 'error' } | { kind: 'timeout' };

const keyOf = (p: Principal): string => `${p.id}\u0000${p.sessionId ?? ''}\u0000${p.tokenId ?? ''}`;

export function createRevalidator<C extends Claims>(opts: ResolvedRevalidate<C>, deps: RevalidatorDeps): Revalidator {
  const { clock, deadlines, logger } = deps;
  const due: AuthzConnection[] = [];
  const work: AuthzConnection[][] = [];
  let inFlight = 0;
  let closed = false;
  let pumping = false;

  const schedule = (state: AuthzConnection): void => {
    if (closed || state.closed) return;
    deadlines.cancel(state.revalidation);
    const spread = opts.jitter === 0 ? 1 : 1 + opts.jitter * (2 * deps.random() - 1);
    state.revalidation = deadlines.schedule(clock.now() + Math.round(opts.intervalMs * spread), onDue, state);
  };

  function onDue(state: AuthzConnection): void {
    state.revalidation = undefined;
    if (closed || state.closed) return;
    due.push(state);
    // Deadlines due together fire in one go: pump once they all are in, so they batch.
    if (!pumping) {
      pumping = true;
      queueMicrotask(pumpSoon);
    }
  }

  function pumpSoon(): void {
    pumping = false;
    pump();
  }

  const ask = (principal: Principal): Answer | Promise<Answer> => {
    let answer: RevalidateAnswer<C> | PromiseLike<RevalidateAnswer<C>>;
    try {
      answer = opts.check(principal as AuthorizedPrincipal<C>);
    } catch (err) {
      logger.warn(describeError(err), 'portcullis: revalidate.check threw');
      return { kind: 'error' };
    }
    if (!isThenable(answer)) return { kind: 'answer', value: answer };
    return new Promise<Answer>((resolve) => {
      const timer = clock.setTimer(() => resolve({ kind: 'timeout' }), opts.timeoutMs);
      Promise.resolve(answer).then(
        (value) => {
          clock.clearTimer(timer);
          resolve({ kind: 'answer', value });
        },
        (err: unknown) => {
          clock.clearTimer(timer);
          logger.warn(describeError(err), 'portcullis: revalidate.check rejected');
          resolve({ kind: 'error' });
        },
      );
    });
  };

  const apply = (group: AuthzConnection[], asked: Principal, answer: Answer): void => {
    const key = keyOf(asked);
    for (const state of group) {
      if (closed || state.closed) continue;
      // Another principal since we asked (a refresh that changed it): the next round checks it.
      if (keyOf(state.principal) !== key) {
        schedule(state);
        continue;
      }
      if (answer.kind !== 'answer') {
        if (opts.onError === 'keep') schedule(state);
        else
          deps.end(
            state,
            new AuthError('unavailable', { detail: `revalidate ${answer.kind}` }),
            answer.kind === 'error' ? Outcome.Error : Outcome.Timeout,
          );
        continue;
      }
      const value = answer.value;
      if (value === true) {
        schedule(state);
      } else if (typeof value === 'object' && value !== null && (value as Principal).id === asked.id) {
        deps.keep(state, value as Principal);
        schedule(state);
      } else {
        // `false`, another principal, anything else: fail closed.
        deps.end(state, new AuthError('revoked', { detail: 'revalidate said no' }), Outcome.Deny);
      }
    }
  };

  const run = (group: AuthzConnection[]): void => {
    const asked = (group[0] as AuthzConnection).principal;
    const answer = ask(asked);
    if (!(answer instanceof Promise)) {
      apply(group, asked, answer);
      return;
    }
    inFlight++;
    void answer.then((a) => {
      inFlight--;
      apply(group, asked, a);
      pump();
    });
  };

  function pump(): void {
    while (!closed && inFlight < opts.concurrency) {
      if (work.length === 0) {
        if (due.length === 0) return;
        const groups = new Map<string, AuthzConnection[]>();
        for (const state of due.splice(0, opts.batchSize)) {
          if (state.closed) continue;
          const key = keyOf(state.principal);
          const g = groups.get(key);
          if (g === undefined) groups.set(key, [state]);
          else g.push(state);
        }
        work.push(...groups.values());
        continue;
      }
      run(work.shift() as AuthzConnection[]);
    }
  }

  return {
    schedule,
    unschedule(state) {
      deadlines.cancel(state.revalidation);
      state.revalidation = undefined;
    },
    close() {
      closed = true;
      due.length = 0;
      work.length = 0;
    },
  };
}
