import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, type TestContext } from '../support/app.ts';
import { saveMethodForCase } from '../payments/support.ts';
import { minimalBody, postIntake } from '../cases/support.ts';
import { bearer, intakeCase, partnerCase, staffAct, staffCaseContext, staffMember, type SignedIn } from './support.ts';

/**
 * What the console's case page reads and does beside the case itself: the members a case may be assigned to, the
 * case's timeline from its events, and the payment actions through the partner API's payment services.
 */
describe('staff case page: assignees, timeline, payments', () => {
  let context: TestContext;
  let org: { organizationId: string; apiKey: string };
  let otherOrg: { organizationId: string; apiKey: string };
  let support: SignedIn;
  let admin: SignedIn;
  let provider: SignedIn;
  let farProvider: SignedIn;
  let outsider: SignedIn;
  let disabledId: string;

  const get = (member: SignedIn, url: string) => context.app.inject({ method: 'GET', url, headers: bearer(member) });
  const intake = () =>
    intakeCase(context.app, org.apiKey, { email: `p-${randomUUID().slice(0, 8)}@example.com`, state: 'DC' });

  before(async () => {
    context = await staffCaseContext();
    org = await context.organization('Case Page Clinic');
    otherOrg = await context.organization('Case Page Elsewhere');
    const organizationIds = [org.organizationId];
    support = await staffMember(context.app, 'SUPPORT', { organizationIds });
    admin = await staffMember(context.app, 'ADMIN', { organizationIds });
    provider = await staffMember(context.app, 'PROVIDER', {
      organizationIds,
      title: 'MD',
      npi: '1234567890',
      licensedStates: ['DC'],
    });
    farProvider = await staffMember(context.app, 'PROVIDER', { organizationIds, licensedStates: ['CA'] });
    outsider = await staffMember(context.app, 'SUPPORT', { organizationIds: [otherOrg.organizationId] });
    const disabled = await staffMember(context.app, 'SUPPORT', { organizationIds });
    disabledId = disabled.staffId;
    const off = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/staff/${disabledId}/disable`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(off.statusCode, 200, off.body);
  });
  after(() => context.close());

  it('lists the active members of the case’s organization, licensed providers first, no secrets', async () => {
    const caseId = await intake();
    const response = await get(support, `/staff/v1/cases/${caseId}/assignees`);
    assert.equal(response.statusCode, 200, response.body);
    const { assignees } = response.json() as {
      assignees: { staffId: string; role: string; licensedForCase: boolean; licensedStates: string[] }[];
    };
    const ids = assignees.map((member) => member.staffId);
    for (const member of [support, admin, provider, farProvider]) assert.ok(ids.includes(member.staffId));
    assert.ok(!ids.includes(outsider.staffId), 'a member of another organization is not listed');
    assert.ok(!ids.includes(disabledId), 'a disabled member is not listed');
    assert.equal(assignees[0]!.staffId, provider.staffId, 'the provider licensed in DC comes first');
    assert.equal(assignees[0]!.licensedForCase, true);
    assert.equal(assignees.find((member) => member.staffId === farProvider.staffId)!.licensedForCase, false);
    assert.doesNotMatch(response.body, /password|totp|hash|"email"/i);

    // Each listed member can be assigned: the list and the assign route agree.
    const assigned = await staffAct(context.app, support, caseId, 'assign', { assigneeId: provider.staffId });
    assert.equal(assigned.statusCode, 200, assigned.body);

    // A PROVIDER assigns only themselves: the list holds only them.
    const own = await get(provider, `/staff/v1/cases/${caseId}/assignees`);
    assert.equal(own.statusCode, 200, own.body);
    assert.deepEqual(
      own.json().assignees.map((member: { staffId: string }) => member.staffId),
      [provider.staffId],
    );
    // A case the member may not see is 404, like one that does not exist.
    assert.equal((await get(outsider, `/staff/v1/cases/${caseId}/assignees`)).statusCode, 404);
    assert.equal((await get(support, `/staff/v1/cases/${randomUUID()}/assignees`)).statusCode, 404);
    assert.equal((await get(support, `/staff/v1/cases/not-a-case/assignees`)).statusCode, 404);
  });

  it('answers the case’s events in order, with staff names, internal notes included, paged', async () => {
    const caseId = await intake();
    assert.equal(
      (await staffAct(context.app, support, caseId, 'assign', { assigneeId: provider.staffId })).statusCode,
      200,
    );
    assert.equal((await staffAct(context.app, provider, caseId, 'start-review')).statusCode, 200);
    const note = 'Internal: check the lab result';
    assert.equal(
      (await staffAct(context.app, support, caseId, 'comments', { text: note, isRestricted: true })).statusCode,
      200,
    );
    assert.equal((await staffAct(context.app, support, caseId, 'escalate')).statusCode, 200);

    const response = await get(admin, `/staff/v1/cases/${caseId}/events`);
    assert.equal(response.statusCode, 200, response.body);
    const { events, nextCursor } = response.json() as {
      events: {
        type: string;
        publishedAs: string;
        seq: string;
        actor: { kind: string; id: string | null; name: string | null };
        after: Record<string, unknown> | null;
      }[];
      nextCursor: string | null;
    };
    assert.equal(nextCursor, null);
    assert.deepEqual(
      events.map((event) => event.type),
      [
        'case.created',
        'case.assignee_added',
        'case.status_changed',
        'case.status_changed',
        'case.comment_added',
        'case.escalated',
      ],
    );
    assert.equal(events[0]!.actor.kind, 'api_key');
    assert.equal(events[0]!.actor.name, null);
    assert.equal(events[1]!.publishedAs, 'ADD_CASE_ASSIGNEE');
    assert.deepEqual(events[1]!.actor, { kind: 'staff', id: support.staffId, name: events[1]!.actor.name });
    assert.match(events[1]!.actor.name!, /^Sam Staff\d+$/);
    assert.equal(events[3]!.after!.status, 'IN_PROGRESS');
    assert.equal(events[4]!.actor.id, support.staffId, 'the internal note shows to staff');
    assert.ok(!response.body.includes(note), 'events carry no text (no PHI)');

    // Paging: two at a time gives the same events.
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const query: string = after === null ? '?limit=2' : `?limit=2&after=${after}`;
      const page = await get(admin, `/staff/v1/cases/${caseId}/events${query}`);
      assert.equal(page.statusCode, 200, page.body);
      const body = page.json() as { events: { type: string }[]; nextCursor: string | null };
      seen.push(...body.events.map((event) => event.type));
      after = body.nextCursor;
    } while (after !== null);
    assert.deepEqual(
      seen,
      events.map((event) => event.type),
    );

    assert.equal((await get(admin, `/staff/v1/cases/${caseId}/events?after=abc`)).statusCode, 400);
    assert.equal((await get(admin, `/staff/v1/cases/${caseId}/events?limit=0`)).statusCode, 400);
    assert.equal((await get(outsider, `/staff/v1/cases/${caseId}/events`)).statusCode, 404);
    // The read is audited with the member's id.
    const audit = await context.app.inject({
      url: `/admin/v1/audit-events?staffId=${admin.staffId}&resourceId=${caseId}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(audit.statusCode, 200, audit.body);
    assert.ok(JSON.stringify(audit.json()).includes('case.events.read'));
  });

  it('gives each file a staff link that works only with the member’s session, and audits each download', async () => {
    const PDF = Buffer.from('%PDF-1.4 a small staff test document');
    const created = await postIntake(
      { app: context.app },
      org.apiKey,
      minimalBody({
        email: `files-${randomUUID().slice(0, 8)}@example.com`,
        shippingAddress: { addressLine1: '1 Main St', city: 'Town', state: 'DC', country: 'US', postalCode: '20500' },
        questions: [
          { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
          {
            question: 'Lab results',
            type: 'FILE',
            required: false,
            phi: true,
            answer: [{ name: 'labs.pdf', contentType: 'application/pdf', data: PDF.toString('base64') }],
          },
        ],
      }),
    );
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const caseId = created.body.data!.caseId!;
    const read = await get(support, `/staff/v1/cases/${caseId}`);
    assert.equal(read.statusCode, 200, read.body);
    const [file] = read.json().caseDetail.attachments as { id: string; url: string; content?: string }[];
    assert.ok(file, 'the staff read lists the file');
    assert.equal(file.content, undefined, 'a link, not the bytes');
    const url = new URL(file.url);
    assert.equal(url.pathname, `/staff/v1/case-files/${file.id}`);
    assert.equal(url.searchParams.get('staffId'), support.staffId);
    const link = `${url.pathname}${url.search}`;

    const download = await get(support, link);
    assert.equal(download.statusCode, 200, download.body);
    assert.deepEqual(download.rawPayload, PDF);
    assert.equal(download.headers['content-type'], 'application/pdf');
    assert.match(String(download.headers['content-disposition']), /^attachment; filename\*=UTF-8''labs\.pdf$/);
    assert.equal(download.headers['cache-control'], 'no-store');

    // Another member (even an ADMIN of the organization), no session, a changed link, a partner's path: refused.
    assert.equal((await get(admin, link)).statusCode, 403);
    assert.equal((await context.app.inject({ url: link })).statusCode, 401);
    const tampered = link.replace(/expires=(\d+)/, (_, value: string) => `expires=${Number(value) + 60}`);
    assert.equal((await get(support, tampered)).statusCode, 403);
    const asPartner = await context.app.inject({
      url: link.replace('/staff/v1/case-files/', '/api/v1/case-files/').replace('staffId=', 'apiKeyId='),
    });
    assert.equal(asPartner.statusCode, 403, 'a staff link never passes for a partner link');
    // includeAttachments=true still carries the bytes.
    const inline = await get(support, `/staff/v1/cases/${caseId}?includeAttachments=true`);
    assert.equal(inline.json().caseDetail.attachments[0].content, PDF.toString('base64'));

    const audit = await context.app.inject({
      url: `/admin/v1/audit-events?staffId=${support.staffId}&resourceId=${file.id}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(audit.statusCode, 200, audit.body);
    const events = JSON.stringify(audit.json());
    assert.ok(events.includes('file.read'), events);
    assert.ok(events.includes(org.organizationId), 'the download names the organization');
  });

  describe('payment actions', () => {
    const hold = async (caseId: string, amount: number) => {
      const response = await context.app.inject({
        method: 'POST',
        url: `/api/v1/cases/${caseId}/payments`,
        headers: { 'cv-api-key': org.apiKey },
        payload: { amount, preauthorize: true, description: 'Visit' },
      });
      assert.equal(response.statusCode, 200, response.body);
      return response.json().data.result.paymentId as string;
    };
    const pay = (member: SignedIn, caseId: string, paymentId: string, action: string, payload?: unknown) =>
      context.app.inject({
        method: 'POST',
        url: `/staff/v1/cases/${caseId}/payments/${paymentId}/${action}`,
        headers: bearer(member),
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    let caseId: string;
    before(async () => {
      caseId = await intake();
      await saveMethodForCase(context, org.organizationId, caseId, {
        gateway: 'simulated',
        customerId: 'cus_staff',
        paymentMethodId: 'pm_staff',
      });
    });

    it('captures part of a hold, refunds part of it, and the partner API sees the same payment', async () => {
      const paymentId = await hold(caseId, 40);
      const captured = await pay(support, caseId, paymentId, 'capture', { amount: 30 });
      assert.equal(captured.statusCode, 200, captured.body);
      assert.equal(captured.json().payment.holdStatus, 'CAPTURED');
      assert.equal(captured.json().payment.amountCaptured, 30);
      // A repeat answers the payment as it is: no second capture.
      const again = await pay(support, caseId, paymentId, 'capture', { amount: 30 });
      assert.equal(again.statusCode, 200, again.body);
      // Releasing a captured hold is refused with the state found.
      const release = await pay(admin, caseId, paymentId, 'release');
      assert.equal(release.statusCode, 409, release.body);
      assert.equal(release.json().success, false);

      const refund = await pay(admin, caseId, paymentId, 'refund', { amount: 10, idempotencyKey: 'staff-refund-1' });
      assert.equal(refund.statusCode, 200, refund.body);
      assert.equal(refund.json().payment.amountRefunded, 10);
      const retried = await pay(admin, caseId, paymentId, 'refund', { amount: 10, idempotencyKey: 'staff-refund-1' });
      assert.equal(retried.statusCode, 200, retried.body);
      assert.equal(retried.json().payment.amountRefunded, 10, 'a retry never refunds twice');
      const tooMuch = await pay(admin, caseId, paymentId, 'refund', { amount: 500 });
      assert.equal(tooMuch.statusCode, 400, tooMuch.body);

      const partner = await context.app.inject({
        url: `/api/v1/cases/${caseId}/payments/${paymentId}`,
        headers: { 'cv-api-key': org.apiKey },
      });
      assert.equal(partner.statusCode, 200, partner.body);
      assert.equal(partner.json().data.result.amountCaptured, 30);
      assert.equal(partner.json().data.result.amountRefunded, 10);
      // The refund's case event names the member.
      const events = (await get(admin, `/staff/v1/cases/${caseId}/events`)).json().events as {
        type: string;
        actor: { id: string };
      }[];
      const refunded = events.filter((event) => event.type === 'case.payment_refunded');
      assert.equal(refunded.length, 1);
      assert.equal(refunded[0]!.actor.id, admin.staffId);
    });

    it('releases a hold; refuses bad input with a 400 and changes nothing', async () => {
      const paymentId = await hold(caseId, 20);
      const bad = await pay(support, caseId, paymentId, 'capture', { amount: 'lots' });
      assert.equal(bad.statusCode, 400, bad.body);
      assert.equal(bad.json().success, false);
      const above = await pay(support, caseId, paymentId, 'capture', { amount: 21 });
      assert.equal(above.statusCode, 400, above.body);
      const released = await pay(support, caseId, paymentId, 'release');
      assert.equal(released.statusCode, 200, released.body);
      assert.equal(released.json().payment.holdStatus, 'RELEASED');
      assert.equal(released.json().payment.amountCaptured, 0);
      const detail = await partnerCase(context.app, org.apiKey, caseId);
      const payment = (detail.payments as { id: string; status: string }[]).find((item) => item.id === paymentId);
      assert.equal(payment?.status, 'CANCELED');
    });

    it('is for ADMIN and SUPPORT; another organization’s member or payment is 404', async () => {
      const paymentId = await hold(caseId, 15);
      assert.equal((await pay(provider, caseId, paymentId, 'release')).statusCode, 403);
      assert.equal((await pay(outsider, caseId, paymentId, 'release')).statusCode, 404);
      assert.equal((await pay(support, caseId, randomUUID(), 'release')).statusCode, 404);
      assert.equal((await pay(support, caseId, 'nope', 'release')).statusCode, 404);
      const otherCase = await intakeCase(context.app, otherOrg.apiKey, { email: 'o@example.com', state: 'DC' });
      assert.equal((await pay(support, otherCase, paymentId, 'release')).statusCode, 404);
      const read = await partnerCase(context.app, org.apiKey, caseId);
      const payment = (read.payments as { id: string; status: string }[]).find((item) => item.id === paymentId);
      assert.notEqual(payment?.status, 'CANCELED', 'refused calls changed nothing');
    });
  });
});
