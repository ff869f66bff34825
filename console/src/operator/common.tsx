import { Alert, Code, Stack, Text } from '@mantine/core';
import type { ReactNode } from 'react';
import type { paths } from '../../../packages/client/src/generated/openapi.ts';
import { hrefOf, navigate } from '../navigation.ts';

/** The JSON answer of a GET route of the generated client. */
export type AdminGet<Path extends keyof paths> = paths[Path] extends {
  get: { responses: { 200: { content: { 'application/json': infer Body } } } };
}
  ? Body
  : never;

/** The JSON body of a route's POST, PATCH or PUT. */
export type AdminBody<Path extends keyof paths, Method extends 'post' | 'patch'> = paths[Path] extends {
  [M in Method]: { requestBody?: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

/** A link to another operator page, handled in the page (no reload). */
export function OperatorLink({ path, children }: { path: string; children: ReactNode }) {
  return (
    <a
      href={hrefOf({ page: 'operator', path })}
      onClick={(event) => {
        event.preventDefault();
        navigate({ page: 'operator', path });
      }}
    >
      {children}
    </a>
  );
}

/** A refusal of the API, in its own words. */
export function Failure({ error }: { error: Error | null }) {
  if (!error) return null;
  return (
    <Alert color="red" role="alert" title="The server refused">
      {error.message}
    </Alert>
  );
}

/**
 * A secret the API shows once (a new API key, a set-password link): shown in the page until it is left, never
 * kept anywhere else.
 */
export function ShownOnce({ title, value, children }: { title: string; value: string; children?: ReactNode }) {
  return (
    <Alert color="blue" title={title} role="status">
      <Stack gap="xs">
        <Code block data-testid="shown-once">
          {value}
        </Code>
        <Text size="sm">{children ?? 'Copy it now: it is shown only this once.'}</Text>
      </Stack>
    </Alert>
  );
}

/** A date and time as the clinic pages show them. */
export { dateTime as when } from '../format.ts';
