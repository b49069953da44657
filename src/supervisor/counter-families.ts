import { Counter, type Registry } from 'prom-client';

/**
 * Counters that live outside prom-client (shared-memory slots of the SIP thread,
 * totals reported by the media process) exposed as Prometheus counters. Slot names
 * are `<family>|<label value>|<label value>`; each family maps to one metric with
 * fixed label names. Values are read at scrape time.
 */
export interface CounterFamily {
  name: string;
  help: string;
  labels: string[];
  /** Multiplies the slot's value (e.g. 1e-6: a slot of microseconds exported in seconds). */
  scale?: number;
}

export function registerCounterFamilies(
  registry: Registry,
  slotNames: readonly string[],
  families: Record<string, CounterFamily>,
  /** Current value of a slot; may refresh its source first. */
  read: () => Promise<(slot: string) => number> | ((slot: string) => number),
): void {
  const byFamily = new Map<string, Array<{ slot: string; values: string[] }>>();
  for (const slot of slotNames) {
    const [family, ...values] = slot.split('|');
    if (!family || !families[family]) continue;
    if (!byFamily.has(family)) byFamily.set(family, []);
    byFamily.get(family)!.push({ slot, values });
  }
  for (const [family, slots] of byFamily) {
    const spec = families[family]!;
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labels,
      registers: [registry],
      async collect() {
        const valueOf = await read();
        this.reset();
        for (const { slot, values } of slots) {
          this.inc(Object.fromEntries(spec.labels.map((label, i) => [label, values[i] ?? ''])), valueOf(slot) * (spec.scale ?? 1));
        }
      },
    });
  }
}
