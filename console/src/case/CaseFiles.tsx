import { Alert, Anchor, Badge, Card, Group, Loader, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { failure, type CaseDetail } from '../api.ts';

export type Attachment = CaseDetail['attachments'][number];

const PREVIEWED = /^(image\/(png|jpeg|gif|webp)|application\/pdf)$/;

/**
 * The staff link's path, fetched from this origin whatever host the server saw (a proxy may name another): the bytes
 * come through it with the member's session, never from elsewhere. Null for a URL sent at intake.
 */
function staffPath(url: string | undefined): string | null {
  if (!url) return null;
  const parsed = new URL(url, location.origin);
  return parsed.pathname.startsWith('/staff/v1/case-files/') ? `${parsed.pathname}${parsed.search}` : null;
}

/**
 * The case's files: images and PDFs previewed in the page, each downloadable. The bytes are fetched through the
 * file's staff link (every download audited with the member's id) and shown from memory through a blob: URL, so
 * the page's policy needs no other source; the blob is revoked when the page leaves the file.
 */
export function CaseFiles({ detail }: { detail: CaseDetail }) {
  const files = detail.attachments.filter((file) => !file.isDeleted);
  return (
    <Card withBorder component="section" aria-labelledby="files-title">
      <Title order={3} id="files-title" mb="sm">
        Files
      </Title>
      {files.length === 0 ? (
        <Text>No files.</Text>
      ) : (
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          {files.map((file) => (
            <FileCard key={file.id} file={file} />
          ))}
        </SimpleGrid>
      )}
    </Card>
  );
}

/** One file: its preview (an image or a PDF) and its download; also a comment's attachment (CaseNotes). */
export function FileCard({ file }: { file: Attachment }) {
  const path = staffPath(file.url);
  const bytes = useQuery({
    queryKey: ['file', file.id],
    enabled: path !== null,
    // A link lives 15 minutes; the case read that gave it is refreshed with the page.
    staleTime: Infinity,
    gcTime: 0,
    queryFn: async () => {
      const response = await fetch(path!, { credentials: 'same-origin', cache: 'no-store' });
      if (!response.ok) throw failure(response, await response.json().catch(() => null));
      return response.blob();
    },
  });
  const [objectUrl, setObjectUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!bytes.data) return undefined;
    const url = URL.createObjectURL(bytes.data);
    setObjectUrl(url);
    return () => URL.revokeObjectURL(url);
  }, [bytes.data]);

  const previewable = PREVIEWED.test(file.contentType);
  return (
    <Card withBorder padding="sm" component="article" aria-label={`File ${file.fileName}`}>
      <Stack gap="xs">
        <Group justify="space-between" gap="xs">
          <Text fw={600} size="sm">
            {file.fileName}
          </Text>
          <Group gap="xs">
            {file.isPHI && (
              <Badge size="xs" color="dark" variant="outline" title="Protected health information">
                PHI
              </Badge>
            )}
            <Text size="xs" c="gray.7">
              {file.contentType}
              {file.size !== null ? ` · ${Math.ceil(file.size / 1024)} KB` : ''}
            </Text>
          </Group>
        </Group>
        {path === null && file.url && (
          <Text size="sm">
            Sent as a link at intake: <Anchor href={file.url}>{file.url}</Anchor>
          </Text>
        )}
        {bytes.isPending && path !== null && <Loader size="sm" aria-label={`Loading ${file.fileName}`} />}
        {bytes.isError && (
          <Alert color="red" role="alert" title="The file could not be loaded">
            {bytes.error.message}
          </Alert>
        )}
        {objectUrl && previewable && file.contentType.startsWith('image/') && (
          <img src={objectUrl} alt={`Preview of ${file.fileName}`} style={{ maxWidth: '100%', maxHeight: 480 }} />
        )}
        {objectUrl && previewable && file.contentType === 'application/pdf' && (
          <iframe
            src={objectUrl}
            title={`Preview of ${file.fileName}`}
            style={{ width: '100%', height: 480, border: 0 }}
          />
        )}
        {objectUrl && (
          <Anchor href={objectUrl} download={file.fileName} size="sm">
            Download {file.fileName}
          </Anchor>
        )}
      </Stack>
    </Card>
  );
}
