import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

/** What the numbers were measured on; they mean little without it. */
export interface MachineInfo {
  readonly date: string;
  readonly cpuModel: string;
  readonly nproc: number;
  readonly memoryGb: number;
  readonly kernel: string;
  readonly node: string;
  readonly h2load: string;
  /**
   * The longest pauses a busy loop saw in one second on each CPU: time the CPU was taken
   * away (hypervisor, interrupts). Latency tails below these are out of any server's reach.
   */
  readonly schedulingGapsMs: Record<string, readonly number[]>;
}

const GAP_PROBE = `
let last = performance.now(); const end = last + 1000; const gaps = [];
for (let now = last; now < end; last = now) { now = performance.now(); if (now - last > 0.1) gaps.push(now - last); }
gaps.sort((a, b) => b - a); console.log(JSON.stringify(gaps.slice(0, 3).map((g) => Math.round(g * 100) / 100)));`;

export function machineInfo(cpus: readonly number[]): MachineInfo {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const h2load = spawnSync("h2load", ["--version"], { encoding: "utf8" }).stdout.trim();
  const schedulingGapsMs: Record<string, number[]> = {};
  for (const cpu of cpus) {
    const out = execFileSync("taskset", ["-c", String(cpu), process.execPath, "-e", GAP_PROBE], {
      encoding: "utf8",
    });
    schedulingGapsMs[`cpu${cpu}`] = JSON.parse(out) as number[];
  }
  return {
    date: new Date().toISOString(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    nproc: os.availableParallelism(),
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    h2load,
    schedulingGapsMs,
  };
}
