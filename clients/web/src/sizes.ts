// Sizes and quantities as the console shows them: CPU in millicores ("500m", "2"), memory and
// volumes in binary units ("1Gi", "1536Mi").

import type { ProjectSize } from "../../ts/src/gen/fsa/v1/sizes_pb.js";

/** millis prints millicores as Kubernetes does. */
export function millis(n: bigint): string {
  return n % 1000n === 0n ? String(n / 1000n) : `${n}m`;
}

/** bytes prints bytes in the largest binary unit that divides them. */
export function bytes(n: bigint): string {
  for (const [suffix, size] of [["Ti", 1n << 40n], ["Gi", 1n << 30n], ["Mi", 1n << 20n], ["Ki", 1n << 10n]] as const) {
    if (n !== 0n && n % size === 0n) return `${n / size}${suffix}`;
  }
  return String(n);
}

/** sizeLine is "small: cpu 500m, memory 1Gi, home 5Gi, db 1Gi"; "—" for no size. */
export function sizeLine(s: ProjectSize | undefined): string {
  if (!s) return "—";
  const line = `cpu ${millis(s.cpuMillis)}, memory ${bytes(s.memoryBytes)}, home ${bytes(s.homeBytes)}, db ${bytes(s.databaseBytes)}`;
  return s.class ? `${s.class}: ${line}` : line;
}
