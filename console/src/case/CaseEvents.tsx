import { Alert, Button, Card, Loader, Text, Timeline, Title } from '@mantine/core';
import { useInfiniteQuery } from '@tanstack/react-query';
import { api, data } from '../api.ts';
import { dateTime, statusLabel } from '../format.ts';
import { caseEventsKey } from './keys.ts';

type CaseEvent = Awaited<ReturnType<typeof eventsPage>>['events'][number];

const eventsPage = (caseId: string, after: string | undefined) =>
  data(
    api.GET('/staff/v1/cases/{caseId}/events', {
      params: { path: { caseId }, query: { limit: 100, ...(after ? { after } : {}) } },
    }),
  );

/** What happened, in words; the events hold states and ids only (no PHI). */
const TITLES: Record<string, string> = {
  'case.created': 'Case created',
  'case.form_response_added': 'Form response added',
  'case.form_response_updated': 'Form response updated',
  'case.archived': 'Archived',
  'case.reopened': 'Reopened',
  'case.assignee_added': 'Assigned',
  'case.assignee_removed': 'Unassigned',
  'case.decision_added': 'Decision recorded',
  'case.decision_deleted': 'Decision deleted',
  'case.comment_added': 'Comment or internal note added',
  'case.comment_deleted': 'Comment deleted',
  'case.attachment_added': 'File added',
  'case.attachment_deleted': 'File deleted',
  'case.escalated': 'Escalated',
  'case.deescalated': 'De-escalated',
  'case.payment_added': 'Payment added',
  'case.payment_completed': 'Payment completed',
  'case.payment_refunded': 'Payment refunded',
  'case.payment_failed': 'Payment failed',
};

function titleOf(event: CaseEvent): string {
  if (event.type === 'case.status_changed') {
    const from = event.before?.status;
    const to = event.after?.status;
    return typeof to === 'string'
      ? `Status ${typeof from === 'string' ? `${statusLabel(from)} → ` : ''}${statusLabel(to)}`
      : 'Status changed';
  }
  return TITLES[event.type] ?? event.type;
}

function actorOf(event: CaseEvent): string {
  switch (event.actor.kind) {
    case 'staff':
      return event.actor.name ?? 'a staff member';
    case 'api_key':
      return 'the partner (API)';
    case 'operator':
      return 'the operator';
    default:
      return 'care360';
  }
}

/** The case's timeline from its own case events (GET /staff/v1/cases/:caseId/events), oldest first. */
export function CaseEvents({ caseId }: { caseId: string }) {
  const events = useInfiniteQuery({
    queryKey: caseEventsKey(caseId),
    queryFn: ({ pageParam }) => eventsPage(caseId, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const list = events.data?.pages.flatMap((page) => page.events) ?? [];
  return (
    <Card withBorder component="section" aria-labelledby="timeline-title">
      <Title order={3} id="timeline-title" mb="sm">
        Timeline
      </Title>
      {events.isPending && <Loader size="sm" aria-label="Loading the timeline" />}
      {events.isError && (
        <Alert color="red" role="alert">
          {events.error.message}
        </Alert>
      )}
      <Timeline bulletSize={14} lineWidth={2} active={list.length - 1} aria-label="Case events">
        {list.map((event) => (
          <Timeline.Item key={event.id} title={titleOf(event)}>
            <Text size="xs" c="gray.7">
              <time dateTime={event.createdAt}>{dateTime(event.createdAt)}</time> · by {actorOf(event)}
            </Text>
          </Timeline.Item>
        ))}
      </Timeline>
      {events.hasNextPage && (
        <Button
          mt="sm"
          variant="default"
          w="fit-content"
          loading={events.isFetchingNextPage}
          onClick={() => void events.fetchNextPage()}
        >
          Show later events
        </Button>
      )}
    </Card>
  );
}
