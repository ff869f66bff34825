import { Center, Paper, Stack, Title } from '@mantine/core';
import type { ReactNode } from 'react';

/** The form of a page shown before sign-in: one card in the middle of the page, under its title. */
export function FormCard(props: {
  /** The title's element id, which names the form. */
  titleId: string;
  title: string;
  width: number;
  onSubmit: () => void;
  children: ReactNode;
}) {
  return (
    <Center mih="100vh" component="main">
      <Paper
        withBorder
        p="xl"
        w={props.width}
        component="form"
        onSubmit={(event) => {
          event.preventDefault();
          props.onSubmit();
        }}
        aria-labelledby={props.titleId}
      >
        <Stack>
          <Title order={1} size="h2" id={props.titleId}>
            {props.title}
          </Title>
          {props.children}
        </Stack>
      </Paper>
    </Center>
  );
}
