import {
  Alert,
  Badge,
  Button,
  Card,
  Group,
  Loader,
  NumberInput,
  Radio,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, data, type CaseDetail, type CaseRead, type DecisionBody, type Me } from './api.ts';
import { STATUS_COLOR, statusLabel } from './format.ts';
import { navigate } from './navigation.ts';
import { AssignPicker } from './case/AssignPicker.tsx';
import { CaseEvents } from './case/CaseEvents.tsx';
import { CaseFiles } from './case/CaseFiles.tsx';
import { CaseNotes } from './case/CaseNotes.tsx';
import { CasePayments } from './case/CasePayments.tsx';
import { caseKey } from './case/keys.ts';

/** The case page: the patient, every form response, payments, the timeline, and the actions of the member's role. */
export function CasePage({ caseId, me }: { caseId: string; me: Me }) {
  const read = useQuery({
    queryKey: caseKey(caseId),
    queryFn: () => data(api.GET('/staff/v1/cases/{caseId}', { params: { path: { caseId } } })),
  });
  if (read.isPending) return <Loader aria-label="Loading the case" />;
  if (read.isError) {
    return (
      <Stack component="main">
        <Title order={2}>Case</Title>
        <Alert color="red" role="alert">
          {read.error.message}
        </Alert>
        <Button variant="default" w="fit-content" onClick={() => navigate({ page: 'queue' })}>
          Back to the queue
        </Button>
      </Stack>
    );
  }
  const { caseDetail: detail } = read.data;
  return (
    <Stack component="main">
      <Group justify="space-between">
        <Group>
          <Title order={2}>Case {detail.shortId}</Title>
          <Badge color={STATUS_COLOR[detail.status]} variant="filled" size="lg">
            {statusLabel(detail.status)}
          </Badge>
          {detail.isArchived && <Badge color="dark">archived {detail.archiveReason?.toLowerCase()}</Badge>}
          {detail.isEscalated && (
            <Badge color="red" variant="outline">
              Escalated
            </Badge>
          )}
        </Group>
        <Button variant="default" onClick={() => navigate({ page: 'queue' })}>
          Back to the queue
        </Button>
      </Group>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Patient detail={detail} />
        <Actions read={read.data} me={me} />
      </SimpleGrid>
      <Responses detail={detail} />
      <CaseFiles detail={detail} />
      <CasePayments detail={detail} me={me} />
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <CaseNotes read={read.data} me={me} />
        <CaseEvents caseId={detail.id} />
      </SimpleGrid>
    </Stack>
  );
}

function Patient({ detail }: { detail: CaseDetail }) {
  const patient = detail.submitter;
  const rows: [string, string | null | undefined][] = [
    ['Name', `${patient.firstName} ${patient.lastName}`],
    ['Email', patient.email],
    ['Phone', patient.phoneNumber],
    ['Date of birth', patient.dob],
    ['Gender', patient.gender],
  ];
  return (
    <Card withBorder component="section" aria-labelledby="patient-title">
      <Title order={3} id="patient-title" mb="sm">
        Patient
      </Title>
      <Table variant="vertical" withTableBorder={false}>
        <Table.Tbody>
          {rows.map(([label, value]) => (
            <Table.Tr key={label}>
              <Table.Th w={140}>{label}</Table.Th>
              <Table.Td>{value || '—'}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Card>
  );
}

function Responses({ detail }: { detail: CaseDetail }) {
  return (
    <Card withBorder component="section" aria-labelledby="responses-title">
      <Title order={3} id="responses-title" mb="sm">
        Form responses
      </Title>
      {detail.responses.length === 0 && <Text>No form responses.</Text>}
      {detail.responses.map((response) => (
        <Stack key={response.id} gap="xs" mb="md">
          <Title order={4}>{response.form.name}</Title>
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Question</Table.Th>
                <Table.Th>Answer</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {response.responses.map((answer) => (
                <Table.Tr key={answer.id}>
                  <Table.Td>
                    {answer.question.text}{' '}
                    {answer.question.isPHI && (
                      <Badge size="xs" color="dark" variant="outline" title="Protected health information">
                        PHI
                      </Badge>
                    )}
                  </Table.Td>
                  <Table.Td>{answer.text || '—'}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      ))}
    </Card>
  );
}

type ActionCall = (caseId: string, expectedVersion: number) => Promise<unknown>;

/** The actions the member's role may take on the case as it stands; the API decides, and its refusal is shown. */
function Actions({ read, me }: { read: CaseRead; me: Me }) {
  const queryClient = useQueryClient();
  const detail = read.caseDetail;
  const action = useMutation({
    mutationFn: ({ call }: { call: ActionCall; name: string }) => call(detail.id, read.version),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: caseKey(detail.id) });
      void queryClient.invalidateQueries({ queryKey: ['queue'] });
    },
  });
  const run = (name: string, call: ActionCall) => action.mutate({ name, call });
  const working = ['OPEN', 'ASSIGNED', 'IN_PROGRESS'].includes(detail.status) && !detail.isArchived;
  const mine = read.assigneeId === me.staffId;
  const path = (caseId: string) => ({ params: { path: { caseId } } });
  return (
    <Card withBorder component="section" aria-labelledby="actions-title">
      <Title order={3} id="actions-title" mb="sm">
        Actions
      </Title>
      <Stack>
        <Text size="sm">
          {read.assigneeId ? (mine ? 'Assigned to you.' : 'Assigned to another member.') : 'Nobody is assigned.'}
        </Text>
        <Group>
          {working && !mine && (
            <Button
              onClick={() =>
                run('assign', (caseId, expectedVersion) =>
                  data(
                    api.POST('/staff/v1/cases/{caseId}/assign', {
                      ...path(caseId),
                      body: { assigneeId: me.staffId, expectedVersion },
                    }),
                  ),
                )
              }
            >
              Assign to me
            </Button>
          )}
          {working && read.assigneeId && (me.role !== 'PROVIDER' || mine) && (
            <Button
              variant="default"
              onClick={() =>
                run('unassign', (caseId, expectedVersion) =>
                  data(api.POST('/staff/v1/cases/{caseId}/unassign', { ...path(caseId), body: { expectedVersion } })),
                )
              }
            >
              Unassign
            </Button>
          )}
          {detail.status === 'ASSIGNED' && !detail.isArchived && (me.role !== 'PROVIDER' || mine) && (
            <Button
              onClick={() =>
                run('start', (caseId, expectedVersion) =>
                  data(
                    api.POST('/staff/v1/cases/{caseId}/start-review', { ...path(caseId), body: { expectedVersion } }),
                  ),
                )
              }
            >
              Start review
            </Button>
          )}
          {!detail.isArchived && (me.role !== 'PROVIDER' || mine) && (
            <Button
              variant="default"
              onClick={() =>
                run(detail.isEscalated ? 'deescalate' : 'escalate', (caseId, expectedVersion) =>
                  data(
                    api.POST(
                      detail.isEscalated ? '/staff/v1/cases/{caseId}/deescalate' : '/staff/v1/cases/{caseId}/escalate',
                      {
                        ...path(caseId),
                        body: { expectedVersion },
                      },
                    ),
                  ),
                )
              }
            >
              {detail.isEscalated ? 'De-escalate' : 'Escalate'}
            </Button>
          )}
          {detail.isArchived && (me.role !== 'PROVIDER' || mine) && (
            <Button
              variant="default"
              onClick={() =>
                run('reopen', (caseId, expectedVersion) =>
                  data(api.POST('/staff/v1/cases/{caseId}/reopen', { ...path(caseId), body: { expectedVersion } })),
                )
              }
            >
              Reopen
            </Button>
          )}
        </Group>
        {working && me.role !== 'PROVIDER' && <AssignPicker read={read} />}
        {action.isError && (
          <Alert color="red" role="alert" title="The action was refused">
            {action.error.message}
          </Alert>
        )}
        {me.role === 'PROVIDER' && mine && working && detail.status !== 'OPEN' && (
          <DecisionForm read={read} onDone={() => queryClient.invalidateQueries({ queryKey: ['queue'] })} />
        )}
        {!detail.isArchived && (me.role !== 'PROVIDER' || mine) && <ArchiveForm read={read} />}
      </Stack>
    </Card>
  );
}

interface Medication {
  medicine: string;
  dosage: string;
  refillCount: number | string;
  dosingFrequency: string;
  pharmacyInstructions: string;
}
const emptyMedication = (): Medication => ({
  medicine: '',
  dosage: '',
  refillCount: 0,
  dosingFrequency: '',
  pharmacyInstructions: '',
});

const VISIT_TYPES = [
  'ASYNC_TEXT_EMAIL',
  'SYNC_VIDEO',
  'SYNC_PHONE',
  'SYNC_IN_PERSON',
  'ORDER_FORM',
  'NO_SHOW',
] as const;

/** The decision, validated as the API validates it; the API's own refusal (403, 409, 400) is shown as it says it. */
function DecisionForm({ read, onDone }: { read: CaseRead; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [outcome, setOutcome] = useState<'approve' | 'reject' | 'none'>('approve');
  const [decisionText, setDecisionText] = useState('');
  const [visitType, setVisitType] = useState<string | null>('ASYNC_TEXT_EMAIL');
  const [medications, setMedications] = useState<Medication[]>([emptyMedication()]);
  const [problem, setProblem] = useState<string | null>(null);
  const decide = useMutation({
    mutationFn: (body: DecisionBody) =>
      data(api.POST('/staff/v1/cases/{caseId}/decisions', { params: { path: { caseId: read.caseDetail.id } }, body })),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: caseKey(read.caseDetail.id) });
      onDone();
    },
  });
  const update = (index: number, change: Partial<Medication>) =>
    setMedications((current) => current.map((item, at) => (at === index ? { ...item, ...change } : item)));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const medInfo =
      outcome === 'approve'
        ? medications.filter((item) => Object.values(item).some((value) => String(value).trim() !== '' && value !== 0))
        : [];
    // The API's rules, checked here first so the common mistakes are explained before a round trip.
    if (medInfo.some((item) => item.medicine.trim() === '')) return setProblem('Each medication needs a medicine.');
    if (
      medInfo.some(
        (item) =>
          !Number.isInteger(Number(item.refillCount)) || Number(item.refillCount) < 0 || Number(item.refillCount) > 100,
      )
    ) {
      return setProblem('Refills are a whole number from 0 to 100.');
    }
    setProblem(null);
    decide.mutate({
      isApproved: outcome === 'approve',
      isNoDecision: outcome === 'none',
      decisionText: decisionText || null,
      visitType: (visitType as DecisionBody['visitType']) ?? null,
      medInfo: medInfo.map((item) => ({
        medicine: item.medicine.trim(),
        dosage: item.dosage || null,
        refillCount: Number(item.refillCount),
        dosingFrequency: item.dosingFrequency || null,
        pharmacyInstructions: item.pharmacyInstructions || null,
      })),
      expectedVersion: read.version,
    });
  };

  return (
    <Stack component="form" onSubmit={submit} aria-labelledby="decision-title" gap="sm">
      <Title order={4} id="decision-title">
        Decision
      </Title>
      <Radio.Group label="Outcome" value={outcome} onChange={(value) => setOutcome(value as typeof outcome)} required>
        <Group mt="xs">
          <Radio value="approve" label="Approve" />
          <Radio value="reject" label="Reject" />
          <Radio value="none" label="No decision" />
        </Group>
      </Radio.Group>
      <Select
        label="Visit type"
        data={VISIT_TYPES.map((value) => ({ value, label: statusLabel(value) }))}
        value={visitType}
        onChange={setVisitType}
        clearable
      />
      <Textarea
        label="Decision note"
        value={decisionText}
        onChange={(event) => setDecisionText(event.currentTarget.value)}
      />
      {outcome === 'approve' &&
        medications.map((medication, index) => (
          <Card withBorder key={index} component="fieldset" aria-label={`Medication ${index + 1}`}>
            <SimpleGrid cols={2}>
              <TextInput
                label="Medicine"
                value={medication.medicine}
                onChange={(event) => update(index, { medicine: event.currentTarget.value })}
              />
              <TextInput
                label="Dosage"
                value={medication.dosage}
                onChange={(event) => update(index, { dosage: event.currentTarget.value })}
              />
              <NumberInput
                label="Refills"
                min={0}
                max={100}
                allowDecimal={false}
                value={medication.refillCount}
                onChange={(value) => update(index, { refillCount: value })}
              />
              <TextInput
                label="Dosing frequency"
                value={medication.dosingFrequency}
                onChange={(event) => update(index, { dosingFrequency: event.currentTarget.value })}
              />
            </SimpleGrid>
            <Textarea
              mt="xs"
              label="Pharmacy instructions"
              value={medication.pharmacyInstructions}
              onChange={(event) => update(index, { pharmacyInstructions: event.currentTarget.value })}
            />
            {medications.length > 1 && (
              <Button
                mt="xs"
                variant="subtle"
                color="red"
                onClick={() => setMedications((current) => current.filter((_, at) => at !== index))}
              >
                Remove medication {index + 1}
              </Button>
            )}
          </Card>
        ))}
      {outcome === 'approve' && (
        <Button
          variant="default"
          w="fit-content"
          onClick={() => setMedications((current) => [...current, emptyMedication()])}
        >
          Add a medication
        </Button>
      )}
      {(problem || decide.isError) && (
        <Alert color="red" role="alert" title="The decision was not recorded">
          {problem ?? decide.error?.message}
        </Alert>
      )}
      <Button type="submit" loading={decide.isPending} w="fit-content">
        Record the decision
      </Button>
    </Stack>
  );
}

function ArchiveForm({ read }: { read: CaseRead }) {
  const queryClient = useQueryClient();
  const [reason, setReason] = useState<'COMPLETE' | 'INELIGIBLE'>('COMPLETE');
  const [note, setNote] = useState('');
  const archive = useMutation({
    mutationFn: () =>
      data(
        api.POST('/staff/v1/cases/{caseId}/archive', {
          params: { path: { caseId: read.caseDetail.id } },
          body: { archiveReason: reason, archiveNote: note || null, expectedVersion: read.version },
        }),
      ),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: caseKey(read.caseDetail.id) });
      void queryClient.invalidateQueries({ queryKey: ['queue'] });
    },
  });
  return (
    <Stack
      component="form"
      gap="sm"
      aria-labelledby="archive-title"
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        archive.mutate();
      }}
    >
      <Title order={4} id="archive-title">
        Archive
      </Title>
      <Radio.Group label="Reason" value={reason} onChange={(value) => setReason(value as typeof reason)}>
        <Group mt="xs">
          <Radio value="COMPLETE" label="Complete" />
          <Radio value="INELIGIBLE" label="Ineligible" />
        </Group>
      </Radio.Group>
      <Textarea label="Archive note" value={note} onChange={(event) => setNote(event.currentTarget.value)} />
      {archive.isError && (
        <Alert color="red" role="alert" title="The case was not archived">
          {archive.error.message}
        </Alert>
      )}
      <Button type="submit" variant="default" loading={archive.isPending} w="fit-content">
        Archive the case
      </Button>
    </Stack>
  );
}
