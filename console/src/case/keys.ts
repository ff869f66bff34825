/** The TanStack Query keys of a case page's reads, so an action refreshes every read it changes. */
export const caseKey = (caseId: string) => ['case', caseId] as const;
export const caseEventsKey = (caseId: string) => ['case', caseId, 'events'] as const;
export const assigneesKey = (caseId: string) => ['case', caseId, 'assignees'] as const;
