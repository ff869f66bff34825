/** How long ago: "5 min", "3 h", "2 d". */
export function age(since: string, now = Date.now()): string {
  const minutes = Math.max(0, Math.floor((now - new Date(since).getTime()) / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

export const dateTime = (value: string | null | undefined): string =>
  value ? new Date(value).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '—';

export const statusLabel = (status: string): string => status.replaceAll('_', ' ').toLowerCase();

/** Colors whose shade 9 (the theme's primaryShade, main.tsx) has at least 4.5:1 contrast with white. */
export const STATUS_COLOR: Record<string, string> = {
  OPEN: 'blue',
  ASSIGNED: 'indigo',
  IN_PROGRESS: 'violet',
  APPROVED: 'teal',
  REJECTED: 'red',
  NO_DECISION: 'gray',
  ABANDONED: 'dark',
};
