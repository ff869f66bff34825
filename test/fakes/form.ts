/** Parses Stripe-style form bodies (`metadata[email]=x&expand[0]=latest_charge`) into nested objects. */
export function parseForm(body: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const parts = rawKey.split(/[[\]]+/).filter((part) => part !== '');
    let target: Record<string, unknown> = result;
    parts.forEach((part, index) => {
      if (index === parts.length - 1) {
        target[part] = value;
      } else {
        target[part] ??= {};
        target = target[part] as Record<string, unknown>;
      }
    });
  }
  return result;
}

/** `{0: 'a', 1: 'b'}` (how arrays arrive in form bodies) -> ['a', 'b']. */
export function formArray(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'object') return Object.values(value as Record<string, unknown>).map(String);
  return [String(value)];
}
