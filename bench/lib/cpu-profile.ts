/**
 * Reading V8 `.cpuprofile` files (written by `--cpu-prof`): self time per
 * function, and the difference between two profiles per operation, which is
 * where a library's extra cost shows up.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimes {
  /** Busy time (everything but idle), µs. */
  readonly busyUs: number;
  /** µs of self time per `function file:line`. */
  readonly self: Map<string, number>;
}

function label(frame: ProfileNode['callFrame']): string {
  const file = frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(src|bench)\//, '$1/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

export function selfTimes(path: string): SelfTimes {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<string, number>();
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    if (node === undefined || node.callFrame.functionName === '(idle)') continue;
    const dt = profile.timeDeltas[i] ?? 0;
    const key = label(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
    busyUs += dt;
  }
  return { busyUs, self };
}

/** The functions whose self time grew most from `reference` to `subject`, in µs per operation. */
export function diffPerOp(reference: SelfTimes, subject: SelfTimes, ops: number, top = 40): { key: string; usPerOp: number }[] {
  const keys = new Set([...reference.self.keys(), ...subject.self.keys()]);
  return [...keys]
    .map((key) => ({ key, usPerOp: ((subject.self.get(key) ?? 0) - (reference.self.get(key) ?? 0)) / ops }))
    .sort((a, b) => b.usPerOp - a.usPerOp)
    .slice(0, top);
}

/** The largest self times of one profile, µs per operation. */
export function topPerOp(times: SelfTimes, ops: number, filter: RegExp, top = 40): { key: string; usPerOp: number }[] {
  return [...times.self]
    .filter(([key]) => filter.test(key))
    .map(([key, us]) => ({ key, usPerOp: us / ops }))
    .sort((a, b) => b.usPerOp - a.usPerOp)
    .slice(0, top);
}
