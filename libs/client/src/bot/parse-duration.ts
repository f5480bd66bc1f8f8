/** Parses `30s`, `2m`, `500ms`, `1h`, or a plain number of seconds, into ms. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) throw new Error(`not a duration: ${JSON.stringify(text)} (try 30s, 2m, 500ms)`);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return Math.round(Number(match[1]) * (units[match[2] ?? "s"] ?? 1000));
}
