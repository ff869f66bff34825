import { Alert, Button, Code, Group, Stack, Table, Text } from '@mantine/core';
import { useState, type ReactNode } from 'react';
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

/** A form of one row: its fields side by side, then its submit button; `onSubmit` runs instead of a page load. */
export function RowForm(props: {
  label: string;
  submitLabel: string;
  pending?: boolean;
  onSubmit: () => void;
  children: ReactNode;
}) {
  return (
    <form
      aria-label={props.label}
      onSubmit={(event) => {
        event.preventDefault();
        props.onSubmit();
      }}
    >
      <Group align="flex-end">
        {props.children}
        <Button type="submit" loading={props.pending}>
          {props.submitLabel}
        </Button>
      </Group>
    </form>
  );
}

/** A striped table under its column names; the children are its rows. */
export function ListTable({ label, columns, children }: { label: string; columns: string[]; children: ReactNode }) {
  return (
    <Table striped aria-label={label}>
      <Table.Thead>
        <Table.Tr>
          {columns.map((column) => (
            <Table.Th key={column}>{column}</Table.Th>
          ))}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>{children}</Table.Tbody>
    </Table>
  );
}

/** A form's text values, and `field(name)`: the value and change handler of the input bound to one of them. */
export function useFields<Values extends Record<string, string>>(initial: Values) {
  const [values, setValues] = useState(initial);
  const field = (name: keyof Values) => ({
    value: values[name],
    onChange: (event: { currentTarget: { value: string } }) =>
      setValues({ ...values, [name]: event.currentTarget.value }),
  });
  return { values, setValues, field };
}

/** A select's choices: the empty choice first, then one a record. */
export function choices(empty: string, items: { id: string; name: string }[] | undefined) {
  return [{ value: '', label: empty }, ...(items ?? []).map((item) => ({ value: item.id, label: item.name }))];
}

/** Each record's name by its id. */
export function namesOf(items: { id: string; name: string }[] | undefined): Map<string, string> {
  return new Map((items ?? []).map((item) => [item.id, item.name]));
}

/** A date and time as the clinic pages show them. */
export { dateTime as when } from '../format.ts';
