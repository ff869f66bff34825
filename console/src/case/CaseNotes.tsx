import { Alert, Badge, Button, Card, Checkbox, Group, Stack, Text, Textarea, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, data, type CaseRead, type Me } from '../api.ts';
import { dateTime } from '../format.ts';
import { FileCard } from './CaseFiles.tsx';
import { caseKey } from './keys.ts';

type Comment = CaseRead['caseDetail']['comments'][number];

const authorOf = (comment: Comment): string => {
  const author = comment.author as { firstName?: unknown; lastName?: unknown; id?: unknown } | null;
  return author && typeof author.firstName === 'string'
    ? `${author.firstName} ${String(author.lastName ?? '')}`
    : 'the partner';
};

/**
 * Comments (the partner sees them, ADD_CASE_COMMENT) and internal notes (staff only), oldest first, each with the
 * files the partner attached to it (previewed and downloadable like the case's files); a new one, and
 * deleting one's own (an ADMIN: any staff comment). The API refuses what the case does not allow (archived: 409).
 */
export function CaseNotes({ read, me }: { read: CaseRead; me: Me }) {
  const queryClient = useQueryClient();
  const detail = read.caseDetail;
  const [text, setText] = useState('');
  const [internal, setInternal] = useState(true);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: caseKey(detail.id) });
  const add = useMutation({
    mutationFn: () =>
      data(
        api.POST('/staff/v1/cases/{caseId}/comments', {
          params: { path: { caseId: detail.id } },
          body: { text, isRestricted: internal },
        }),
      ),
    onSuccess: () => setText(''),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (commentId: string) =>
      data(
        api.DELETE('/staff/v1/cases/{caseId}/comments/{commentId}', {
          params: { path: { caseId: detail.id, commentId } },
        }),
      ),
    onSettled: refresh,
  });
  const comments = [...detail.comments].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const mayDelete = (comment: Comment) => {
    const authorId = (comment.author as { id?: unknown } | null)?.id;
    return (
      !detail.isArchived && (authorId === me.staffId || (me.role === 'ADMIN' && authorOf(comment) !== 'the partner'))
    );
  };
  return (
    <Card withBorder component="section" aria-labelledby="notes-title">
      <Title order={3} id="notes-title" mb="sm">
        Comments and internal notes
      </Title>
      <Stack gap="sm">
        {comments.length === 0 && <Text>No comments yet.</Text>}
        {comments.map((comment) => (
          <Card
            key={comment.id}
            withBorder
            padding="sm"
            component="article"
            aria-label={comment.isRestricted ? 'Internal note' : 'Comment'}
          >
            <Group justify="space-between" gap="xs">
              <Group gap="xs">
                {comment.isRestricted ? (
                  <Badge color="dark" variant="outline" size="sm">
                    Internal note
                  </Badge>
                ) : (
                  <Badge color="blue" variant="outline" size="sm">
                    Comment
                  </Badge>
                )}
                <Text size="xs" c="gray.7">
                  {authorOf(comment)} · <time dateTime={comment.createdAt}>{dateTime(comment.createdAt)}</time>
                </Text>
              </Group>
              {mayDelete(comment) && (
                <Button size="compact-xs" variant="subtle" color="red" onClick={() => remove.mutate(comment.id)}>
                  Delete
                </Button>
              )}
            </Group>
            <Text size="sm" mt={4} style={{ whiteSpace: 'pre-wrap' }}>
              {comment.text}
            </Text>
            {comment.attachments.some((file) => !file.isDeleted) && (
              <Stack gap="xs" mt="xs" aria-label="Attachments of the comment">
                {comment.attachments
                  .filter((file) => !file.isDeleted)
                  .map((file) => (
                    <FileCard key={file.id} file={file} />
                  ))}
              </Stack>
            )}
          </Card>
        ))}
        {remove.isError && (
          <Alert color="red" role="alert" title="The comment was not deleted">
            {remove.error.message}
          </Alert>
        )}
        {!detail.isArchived && (
          <Stack
            component="form"
            gap="xs"
            aria-label="Add a comment or internal note"
            onSubmit={(event: FormEvent) => {
              event.preventDefault();
              if (text.trim() !== '') add.mutate();
            }}
          >
            <Textarea
              label="New comment or note"
              value={text}
              onChange={(event) => setText(event.currentTarget.value)}
            />
            <Checkbox
              label="Internal note (never shown to the partner)"
              checked={internal}
              onChange={(event) => setInternal(event.currentTarget.checked)}
            />
            {add.isError && (
              <Alert color="red" role="alert" title="The comment was not added">
                {add.error.message}
              </Alert>
            )}
            <Button
              type="submit"
              variant="default"
              w="fit-content"
              loading={add.isPending}
              disabled={text.trim() === ''}
            >
              {internal ? 'Add the internal note' : 'Add the comment'}
            </Button>
          </Stack>
        )}
      </Stack>
    </Card>
  );
}
