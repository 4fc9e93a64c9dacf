/**
 * What Linux says about one process, read from /proc (no sampling inside the process):
 * its resident memory (VmRSS) and the CPU time it has used (utime + stime).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (getconf CLK_TCK; 100 on every common Linux). */
export const CLOCK_TICKS_PER_SECOND: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** Resident set size of `pid` in bytes (VmRSS of /proc/<pid>/status), or null once it is gone. */
export function readRssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds `pid` has used so far (utime + stime of /proc/<pid>/stat), or null once it is gone. */
export function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    const utime = Number(fields[14 - 3]);
    const stime = Number(fields[15 - 3]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / CLOCK_TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

/**
 * Seconds the main thread of `pid` (the thread whose id is the pid: Node's event loop)
 * spent runnable but waiting for a core (field 2 of /proc/<pid>/schedstat), or null
 * where the kernel does not keep it. High while CPU use is low means the machine, not
 * the process, is the bottleneck.
 */
export function readRunQueueWaitSeconds(pid: number): number | null {
  try {
    const wait = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
    return Number.isFinite(wait) ? wait / 1e9 : null;
  } catch {
    return null;
  }
}

/** The 1-minute load average of the machine (/proc/loadavg). */
export function readLoadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/** What a process has used up to one moment: wall clock, CPU seconds, run-queue wait. */
export interface ProcSnapshot {
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly runQueueWaitSeconds: number;
}

export function procSnapshot(pid: number): ProcSnapshot {
  return { wallSeconds: performance.now() / 1000, cpuSeconds: readCpuSeconds(pid) ?? NaN, runQueueWaitSeconds: readRunQueueWaitSeconds(pid) ?? NaN };
}

/** The difference between two snapshots of one process. */
export function procDelta(a: ProcSnapshot, b: ProcSnapshot): ProcSnapshot {
  return { wallSeconds: b.wallSeconds - a.wallSeconds, cpuSeconds: b.cpuSeconds - a.cpuSeconds, runQueueWaitSeconds: b.runQueueWaitSeconds - a.runQueueWaitSeconds };
}

/** Samples the RSS of `pid` every `everyMs` until stopped, each sample tagged by `tag()` at that moment. */
export class RssSampler<T extends string> {
  readonly samples: { tag: T; bytes: number }[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, private readonly tag: () => T, everyMs = 200) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    const bytes = readRssBytes(this.pid);
    if (bytes !== null) this.samples.push({ tag: this.tag(), bytes });
  }

  stop(): { tag: T; bytes: number }[] {
    clearInterval(this.timer);
    this.sample();
    return this.samples;
  }
}
