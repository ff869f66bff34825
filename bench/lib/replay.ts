import { randomUUID } from 'node:crypto';
import type { RecordedStatement } from './sql-recorder.ts';

/**
 * Replaying a recorded request's SQL as a new request: every value the request made fresh (a UUID that
 * did not exist before it, the request's unique token in the email and idempotency key, and any other
 * value a unique index holds, such as the case's short id) gets a new value in each replay, the same new
 * value everywhere it appears within that replay; everything else (the organization, the form and its
 * questions, constants) is sent as recorded.
 */

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** The fresh values of one replay. */
export interface Fresh {
  unique: string;
  uuids: Map<string, string>;
  /** The new value of each recorded fresh value (FreshValues), drawn on first use in this replay. */
  values: Map<string, string>;
}

/** Recorded values other than UUIDs that must be new in every replay, each with how to draw a new one. */
export type FreshValues = ReadonlyMap<string, () => string>;

export type ParamTemplate = { constant: unknown } | { render: (fresh: Fresh) => unknown };

export interface Step {
  text: string;
  params: ParamTemplate[];
}

export interface Segment {
  /** True: the steps ran in one transaction. */
  transaction: boolean;
  steps: Step[];
}

/** A parameter becomes a template when it holds a fresh value (also inside arrays); else it is a constant. */
export function templateOf(
  value: unknown,
  keep: ReadonlySet<string>,
  recordedUnique: string,
  freshValues: FreshValues = new Map(),
): ParamTemplate {
  if (Array.isArray(value)) {
    const items = value.map((item) => templateOf(item, keep, recordedUnique, freshValues));
    if (items.every((item) => 'constant' in item)) return { constant: value };
    return { render: (fresh) => items.map((item) => ('constant' in item ? item.constant : item.render(fresh))) };
  }
  if (typeof value !== 'string') return { constant: value };
  const freshUuids = (value.match(UUID) ?? []).filter((uuid) => !keep.has(uuid.toLowerCase()));
  const held = [...freshValues.keys()].filter((recorded) => value.includes(recorded));
  if (freshUuids.length === 0 && !value.includes(recordedUnique) && held.length === 0) return { constant: value };
  return {
    render: (fresh) => {
      let text = value.split(recordedUnique).join(fresh.unique);
      for (const recorded of held) {
        let replacement = fresh.values.get(recorded);
        if (replacement === undefined) {
          replacement = freshValues.get(recorded)!();
          fresh.values.set(recorded, replacement);
        }
        text = text.split(recorded).join(replacement);
      }
      return text.replace(UUID, (uuid) => {
        const lower = uuid.toLowerCase();
        if (keep.has(lower)) return uuid;
        let replacement = fresh.uuids.get(lower);
        if (!replacement) {
          replacement = randomUUID();
          fresh.uuids.set(lower, replacement);
        }
        return replacement;
      });
    },
  };
}

/** Consecutive statements of one transaction (or outside any) form one segment. */
export function planOf(
  statements: readonly RecordedStatement[],
  keep: ReadonlySet<string>,
  recordedUnique: string,
  freshValues: FreshValues = new Map(),
): Segment[] {
  const segments: Segment[] = [];
  let current: { segment: Segment; transaction: number | null } | undefined;
  for (const statement of statements) {
    if (!current || current.transaction !== statement.transaction) {
      current = {
        segment: { transaction: statement.transaction !== null, steps: [] },
        transaction: statement.transaction,
      };
      segments.push(current.segment);
    }
    current.segment.steps.push({
      text: statement.text,
      params: statement.params.map((value) => templateOf(value, keep, recordedUnique, freshValues)),
    });
  }
  return segments;
}

export function render(step: Step, fresh: Fresh): unknown[] {
  return step.params.map((template) => ('constant' in template ? template.constant : template.render(fresh)));
}
