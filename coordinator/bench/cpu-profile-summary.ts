/**
 * Where a V8 CPU profile (`node --cpu-prof`, a .cpuprofile JSON) spent its samples:
 * self time per function and per source file (node_modules packages grouped), for
 * finding the coordinator's hot spots under load.
 *
 *   node --import tsx coordinator/bench/cpu-profile-summary.ts <file.cpuprofile> [top]
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly gcMs: number;
  readonly byFunction: { name: string; ms: number }[];
  readonly byFile: { file: string; ms: number }[];
}

/** Groups a script URL: a package under node_modules by its name, the repo's files by their path, node internals as such. */
function fileOf(url: string): string {
  if (!url) return '(native / V8)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `pkg:${nm[1]}`;
  if (url.startsWith('node:')) return url;
  const repo = /\/(coordinator|shared|client)\/.*$/.exec(url);
  return repo ? repo[0].slice(1) : url.replace(/^file:\/\//, '');
}

export function summarizeProfile(p: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfMs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfMs.set(p.samples[i], (selfMs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  let gcMs = 0;
  for (const [id, ms] of selfMs) {
    const n = byId.get(id)!;
    const name = n.callFrame.functionName || '(anonymous)';
    totalMs += ms;
    if (name === '(idle)') {
      idleMs += ms;
      continue;
    }
    if (name === '(garbage collector)') gcMs += ms;
    const where = fileOf(n.callFrame.url);
    // tsx-compiled sources report line 1 for everything: a line only where it means something.
    const key = `${name}  ${where}${n.callFrame.url && n.callFrame.lineNumber > 0 ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    file.set(where, (file.get(where) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs,
    idleMs,
    gcMs,
    byFunction: sorted(fn).map(([name, ms]) => ({ name, ms })),
    byFile: sorted(file).map(([f, ms]) => ({ file: f, ms })),
  };
}

export async function summarizeProfileFile(path: string, top = 25): Promise<ProfileSummary> {
  return summarizeProfile(JSON.parse(await readFile(path, 'utf8')) as CpuProfile, top);
}

export function printProfileSummary(s: ProfileSummary, title: string): void {
  const busy = s.totalMs - s.idleMs;
  const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1).padStart(5)} %`;
  console.log(`\n${title}: ${(busy / 1000).toFixed(1)} s on the main thread (of ${(s.totalMs / 1000).toFixed(1)} s profiled; GC ${(s.gcMs / 1000).toFixed(1)} s)`);
  console.log('  self time by file / package:');
  for (const f of s.byFile.slice(0, 15)) console.log(`    ${pct(f.ms)}  ${(f.ms / 1000).toFixed(2).padStart(7)} s  ${f.file}`);
  console.log('  self time by function:');
  for (const f of s.byFunction) console.log(`    ${pct(f.ms)}  ${(f.ms / 1000).toFixed(2).padStart(7)} s  ${f.name}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpu-profile-summary.ts <file.cpuprofile> [top]');
  printProfileSummary(await summarizeProfileFile(file, Number(top ?? 25)), file);
}
