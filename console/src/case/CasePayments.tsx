import { Alert, Button, Card, Group, NumberInput, Stack, Table, Text, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, data, type CaseDetail, type Me } from '../api.ts';
import { caseKey } from './keys.ts';

type Payment = CaseDetail['payments'][number];
type Kind = 'capture' | 'release' | 'refund';

const VERB: Record<Kind, string> = { capture: 'Capture', release: 'Release', refund: 'Refund' };

const money = (payment: Payment, amount = payment.amount) =>
  new Intl.NumberFormat(undefined, { style: 'currency', currency: payment.currency.toUpperCase() }).format(amount);

/** The actions a payment in this status may take; the API decides (a capture of a payment without a hold: 409). */
const kindsFor = (payment: Payment): Kind[] =>
  payment.status === 'UNPAID'
    ? ['capture', 'release']
    : payment.status === 'PAID' || payment.status === 'REFUND'
      ? ['refund']
      : [];

/** The case's payments; ADMIN and SUPPORT capture, release and refund them, each after a confirmation. */
export function CasePayments({ detail, me }: { detail: CaseDetail; me: Me }) {
  const mayAct = me.role === 'ADMIN' || me.role === 'SUPPORT';
  return (
    <Card withBorder component="section" aria-labelledby="payments-title">
      <Title order={3} id="payments-title" mb="sm">
        Payments
      </Title>
      {detail.payments.length === 0 ? (
        <Text>No payments.</Text>
      ) : (
        <Table>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Amount</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Description</Table.Th>
              {mayAct && <Table.Th>Actions</Table.Th>}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {detail.payments.map((payment) => (
              <Table.Tr key={payment.id}>
                <Table.Td>{money(payment)}</Table.Td>
                <Table.Td>{payment.status}</Table.Td>
                <Table.Td>{payment.description ?? '—'}</Table.Td>
                {mayAct && (
                  <Table.Td>
                    <PaymentActions caseId={detail.id} payment={payment} />
                  </Table.Td>
                )}
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

function PaymentActions({ caseId, payment }: { caseId: string; payment: Payment }) {
  const queryClient = useQueryClient();
  const [asked, setAsked] = useState<Kind | null>(null);
  const [amount, setAmount] = useState<number | string>('');
  const act = useMutation({
    mutationFn: ({ kind, dollars }: { kind: Kind; dollars: number | undefined }) => {
      const params = { path: { caseId, paymentId: payment.id } };
      if (kind === 'release')
        return data(api.POST('/staff/v1/cases/{caseId}/payments/{paymentId}/release', { params }));
      const body = dollars === undefined ? {} : { amount: dollars };
      return kind === 'capture'
        ? data(api.POST('/staff/v1/cases/{caseId}/payments/{paymentId}/capture', { params, body }))
        : data(
            api.POST('/staff/v1/cases/{caseId}/payments/{paymentId}/refund', {
              params,
              // One key per confirmed refund: a retry of this request never refunds twice.
              body: { ...body, idempotencyKey: crypto.randomUUID() },
            }),
          );
    },
    onSuccess: () => setAsked(null),
    // The case and its timeline (keys under caseKey) show the payment as it now stands.
    onSettled: () => void queryClient.invalidateQueries({ queryKey: caseKey(caseId) }),
  });
  const kinds = kindsFor(payment);
  if (kinds.length === 0) return <Text size="sm">—</Text>;
  if (asked === null) {
    return (
      <Group gap="xs">
        {kinds.map((kind) => (
          <Button
            key={kind}
            size="xs"
            variant="default"
            aria-label={`${VERB[kind]} ${money(payment)}`}
            onClick={() => {
              act.reset();
              setAmount('');
              setAsked(kind);
            }}
          >
            {VERB[kind]}
          </Button>
        ))}
      </Group>
    );
  }
  const dollars = amount === '' ? undefined : Number(amount);
  return (
    <Stack gap="xs" role="group" aria-label={`${VERB[asked]} this payment`}>
      <Text size="sm">
        {asked === 'release'
          ? `Release the hold of ${money(payment)}? No money is taken.`
          : `${VERB[asked]} ${dollars === undefined ? `all of ${money(payment)}` : money(payment, dollars)}?`}
      </Text>
      {asked !== 'release' && (
        <NumberInput
          size="xs"
          label="Amount (empty: all)"
          min={0.01}
          decimalScale={2}
          value={amount}
          onChange={setAmount}
          w={160}
        />
      )}
      <Group gap="xs">
        <Button size="xs" color="red" loading={act.isPending} onClick={() => act.mutate({ kind: asked, dollars })}>
          Confirm {VERB[asked].toLowerCase()}
        </Button>
        <Button size="xs" variant="default" onClick={() => setAsked(null)}>
          Cancel
        </Button>
      </Group>
      {act.isError && (
        <Alert color="red" role="alert" title="The payment was not changed">
          {act.error.message}
        </Alert>
      )}
    </Stack>
  );
}
