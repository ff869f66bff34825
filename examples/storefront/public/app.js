// The sample intake page. Everything goes through the storefront's relay (/care360), which adds the care360 API
// key on the server: the form from the forms API, the promo code, the publishable keys, the SetupIntent or
// PaymentIntent, and the case. It follows the Case Create page's workflows:
//   SetupIntent: save the card (confirmSetup), then the case with stripeSetupId and the original paymentAmount;
//   PaymentIntent: validate the promo code, create the intent for the discounted amount, pay (confirmPayment),
//   then the case with stripePaymentId and the original (non-discounted) paymentAmount.
// The promo code goes with the case too, so care360 checks the discount and counts the code's use.

const STATES = [
  ['AL', 'Alabama'],
  ['AK', 'Alaska'],
  ['AZ', 'Arizona'],
  ['AR', 'Arkansas'],
  ['CA', 'California'],
  ['CO', 'Colorado'],
  ['CT', 'Connecticut'],
  ['DE', 'Delaware'],
  ['DC', 'District of Columbia'],
  ['FL', 'Florida'],
  ['GA', 'Georgia'],
  ['HI', 'Hawaii'],
  ['ID', 'Idaho'],
  ['IL', 'Illinois'],
  ['IN', 'Indiana'],
  ['IA', 'Iowa'],
  ['KS', 'Kansas'],
  ['KY', 'Kentucky'],
  ['LA', 'Louisiana'],
  ['ME', 'Maine'],
  ['MD', 'Maryland'],
  ['MA', 'Massachusetts'],
  ['MI', 'Michigan'],
  ['MN', 'Minnesota'],
  ['MS', 'Mississippi'],
  ['MO', 'Missouri'],
  ['MT', 'Montana'],
  ['NE', 'Nebraska'],
  ['NV', 'Nevada'],
  ['NH', 'New Hampshire'],
  ['NJ', 'New Jersey'],
  ['NM', 'New Mexico'],
  ['NY', 'New York'],
  ['NC', 'North Carolina'],
  ['ND', 'North Dakota'],
  ['OH', 'Ohio'],
  ['OK', 'Oklahoma'],
  ['OR', 'Oregon'],
  ['PA', 'Pennsylvania'],
  ['RI', 'Rhode Island'],
  ['SC', 'South Carolina'],
  ['SD', 'South Dakota'],
  ['TN', 'Tennessee'],
  ['TX', 'Texas'],
  ['UT', 'Utah'],
  ['VT', 'Vermont'],
  ['VA', 'Virginia'],
  ['WA', 'Washington'],
  ['WV', 'West Virginia'],
  ['WI', 'Wisconsin'],
  ['WY', 'Wyoming'],
];

// The visit types a patient chooses from (care360 also knows NO_SHOW and ORDER_FORM, which clinics set).
const VISIT_TYPES = [
  ['SYNC_VIDEO', 'Video call'],
  ['SYNC_PHONE', 'Phone call'],
  ['ASYNC_TEXT_EMAIL', 'Text or email, at my own pace'],
];

const $ = (selector) => document.querySelector(selector);
const form = $('#intake');
const state = {
  relay: '/care360',
  product: null,
  form: null,
  paymentConfig: null,
  promo: null,
  flow: null,
  stripe: null,
  elements: null,
  intentId: null,
  // One key per intake: a retry after a lost answer cannot create a second case.
  idempotencyKey: crypto.randomUUID(),
};

const dollars = (amount) => `$${amount.toFixed(2)}`;

class RelayError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function relay(path, init = {}) {
  const response = await fetch(`${state.relay}${path}`, init);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body?.error ?? body?.message ?? body?.description ?? `Request failed (${response.status})`;
    throw new RelayError(message, response.status);
  }
  return body;
}

const postJson = (path, body) =>
  relay(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(properties)) {
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name in node) node[name] = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

const choice = (type, name, value, label, required) =>
  element('label', {}, element('input', { type, name, value, required }), ` ${label}`);

// ---- The form, one input per question type -------------------------------------------------------------------

function renderQuestion(question, index) {
  const name = `q${index}`;
  const required = question.required === true;
  const container = element('div', {
    className: 'question',
    dataset: {
      type: question.type,
      index: String(index),
      ...(question.questionId ? { questionId: question.questionId } : {}),
    },
  });
  const title = element('p', { className: 'title' }, question.question, required ? ' *' : '');
  const hint = question.hint ? element('p', { className: 'hint' }, question.hint) : '';
  const placeholder = question.placeholder ?? '';
  switch (question.type) {
    case 'STATEMENT':
      container.classList.add('statement');
      container.append(element('p', {}, question.question));
      return container;
    case 'TEXT':
      container.append(element('label', {}, title, hint, element('input', { name, required, placeholder })));
      return container;
    case 'BOOLEAN':
      container.append(
        title,
        hint,
        element(
          'div',
          { className: 'inline' },
          choice('radio', name, 'true', 'Yes', required),
          choice('radio', name, 'false', 'No', required),
        ),
      );
      return container;
    case 'DATE':
      container.append(element('label', {}, title, hint, element('input', { name, type: 'date', required })));
      return container;
    case 'DATERANGE':
      container.append(
        title,
        hint,
        element(
          'div',
          { className: 'row' },
          element('label', {}, 'From', element('input', { name: `${name}-start`, type: 'date', required })),
          element('label', {}, 'Until (empty: still ongoing)', element('input', { name: `${name}-end`, type: 'date' })),
        ),
      );
      return container;
    case 'SINGLESELECT':
      container.append(
        title,
        hint,
        ...question.options.map((option) => choice('radio', name, option, option, required)),
      );
      return container;
    case 'MULTISELECT':
      container.append(
        title,
        hint,
        ...question.options.map((option) => choice('checkbox', name, option, option, false)),
      );
      return container;
    case 'FILE':
    case 'WIDGET_USER_ID_DOCUMENT':
      container.append(
        element(
          'label',
          {},
          title,
          hint,
          element('input', {
            name,
            type: 'file',
            required,
            multiple: question.type === 'FILE',
            accept: question.type === 'FILE' ? 'application/pdf,image/*,text/plain' : 'image/*,application/pdf',
          }),
        ),
      );
      return container;
    case 'WIDGET_BMI':
      container.append(
        title,
        hint,
        element(
          'div',
          { className: 'row' },
          element(
            'label',
            {},
            'Height (inches)',
            element('input', { name: `${name}-height`, type: 'number', min: '36', max: '96', step: '0.5', required }),
          ),
          element(
            'label',
            {},
            'Weight (pounds)',
            element('input', { name: `${name}-weight`, type: 'number', min: '50', max: '1000', step: '0.1', required }),
          ),
        ),
        element('p', { className: 'hint', id: `${name}-bmi` }),
      );
      container.addEventListener('input', () => {
        const bmi = bmiOf(container, name);
        $(`#${name}-bmi`).textContent = bmi ? `BMI ${bmi}` : '';
      });
      return container;
    case 'WIDGET_STATE_PICKER':
      container.append(
        element(
          'label',
          {},
          title,
          hint,
          element(
            'select',
            { name, required },
            element('option', { value: '' }, 'Choose a state'),
            ...STATES.map(([code, label]) => element('option', { value: code }, label)),
          ),
        ),
      );
      return container;
    case 'WIDGET_VISIT_TYPE':
      container.append(
        title,
        hint,
        ...VISIT_TYPES.map(([value, label]) => choice('radio', name, value, label, required)),
      );
      return container;
    default:
      // A type this page does not know yet: ask for text, which care360 checks against the type.
      container.append(element('label', {}, title, hint, element('input', { name, required, placeholder })));
      return container;
  }
}

function bmiOf(container, name) {
  const height = Number(container.querySelector(`[name="${name}-height"]`).value);
  const weight = Number(container.querySelector(`[name="${name}-weight"]`).value);
  if (!(height > 0 && weight > 0)) return null;
  return Math.round((703 * weight * 10) / (height * height)) / 10;
}

function readAsBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(',', 2)[1] ?? '');
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** A question's answer in the form-id format of the Case Create page (also accepted in form-title mode). */
async function answerOf(question, container) {
  const name = `q${container.dataset.index}`;
  const field = (suffix = '') => container.querySelector(`[name="${name}${suffix}"]`);
  const checked = () => [...container.querySelectorAll(`[name="${name}"]:checked`)].map((input) => input.value);
  switch (question.type) {
    case 'STATEMENT':
      return undefined;
    case 'BOOLEAN':
    case 'SINGLESELECT':
    case 'WIDGET_VISIT_TYPE':
      return checked()[0];
    case 'MULTISELECT': {
      const values = checked();
      return values.length > 0 ? values : undefined;
    }
    case 'DATERANGE': {
      const startDate = field('-start').value;
      return startDate ? { startDate, endDate: field('-end').value || null } : undefined;
    }
    case 'FILE':
    case 'WIDGET_USER_ID_DOCUMENT': {
      const files = [...field().files];
      if (files.length === 0) return undefined;
      return Promise.all(
        files.map(async (file) => ({
          name: file.name,
          data: await readAsBase64(file),
          contentType: file.type || 'application/octet-stream',
        })),
      );
    }
    case 'WIDGET_BMI': {
      const bmi = bmiOf(container, name);
      if (!bmi) return undefined;
      return { height: field('-height').value, weight: Number(field('-weight').value), bmi };
    }
    default: {
      const value = field().value.trim();
      return value === '' ? undefined : value;
    }
  }
}

/** Browser validation of every field, plus what it cannot say (a required MULTISELECT). */
function validate() {
  for (const container of document.querySelectorAll('.question[data-type="MULTISELECT"]')) {
    const question = state.form.questions[Number(container.dataset.index)];
    const first = container.querySelector('input');
    const none = container.querySelectorAll('input:checked').length === 0;
    first?.setCustomValidity(question.required && none ? 'Choose at least one' : '');
  }
  return form.reportValidity();
}

// ---- Promo code and total --------------------------------------------------------------------------------------

function total() {
  const price = state.product.price;
  if (!state.promo) return price;
  if (state.promo.percentDiscount) return Math.round(price * (100 - state.promo.percentDiscount)) / 100;
  return Math.max(0, Math.round((price - state.promo.flatDiscount) * 100) / 100);
}

function showTotal() {
  $('#total').textContent = dollars(total());
}

async function applyPromo() {
  const code = form.promoCode.value.trim();
  const result = $('#promo-result');
  state.promo = null;
  if (code) {
    try {
      const { data } = await relay(`/promo-codes?code=${encodeURIComponent(code)}`);
      if (data.length > 0) {
        state.promo = { code, ...data[0] };
        const off = data[0].percentDiscount
          ? `${data[0].percentDiscount}% off`
          : `${dollars(data[0].flatDiscount)} off`;
        result.textContent = `${code.toUpperCase()} applied: ${off}.`;
      } else {
        result.textContent = 'This promo code is not valid.';
      }
    } catch (error) {
      result.textContent = `The promo code could not be checked: ${error.message}`;
    }
  } else {
    result.textContent = '';
  }
  showTotal();
}

// ---- The card: Stripe.js, or care360's test card element in simulated mode ---------------------------------------

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = element('script', { src });
    script.onload = resolve;
    script.onerror = () => reject(new Error(`Could not load ${src}`));
    document.head.append(script);
  });
}

async function cardProvider() {
  const { stripe } = state.paymentConfig;
  if (stripe.mode === 'simulated') {
    await loadScript(`${state.relay}/payments/test-card.js`);
    return window.Care360TestCard();
  }
  if (!stripe.publishableKey) throw new Error('care360 has no Stripe publishable key (STRIPE_PUBLISHABLE_KEY)');
  await loadScript('https://js.stripe.com/v3/');
  return window.Stripe(stripe.publishableKey);
}

function showPaymentError(message) {
  const box = $('#payment-error');
  box.textContent = message;
  box.hidden = !message;
}

async function continueToCard() {
  showPaymentError('');
  if (!validate()) return;
  const button = $('#to-card');
  button.disabled = true;
  try {
    state.flow = form.flow.value;
    const metadata = {
      email: form.email.value.trim(),
      ...(form.phoneNumber.value ? { phone: form.phoneNumber.value } : {}),
    };
    let clientSecret;
    if (state.flow === 'setup') {
      clientSecret = (await postJson('/payments/setup', { metadata })).paymentSecret;
    } else {
      // The PaymentIntent is for the discounted amount, in cents.
      const amount = Math.round(total() * 100);
      const { data } = await postJson('/payments/intent', { amount, paymentMethodTypes: ['card'], metadata });
      clientSecret = data.paymentIntentSecret;
    }
    state.stripe ??= await cardProvider();
    state.elements = state.stripe.elements({ clientSecret });
    state.elements.create('payment').mount('#payment-element');
    // The amount is fixed now: the code and the flow no longer change.
    for (const input of [form.promoCode, $('#apply-promo'), ...form.querySelectorAll('[name="flow"]')])
      input.disabled = true;
    button.hidden = true;
    $('#card-step').hidden = false;
  } catch (error) {
    showPaymentError(error.message);
    button.disabled = false;
  }
}

// ---- The case ----------------------------------------------------------------------------------------------------

async function caseBody() {
  const value = (name) => form[name].value.trim();
  const optional = (name, key = name) => (value(name) ? { [key]: value(name) } : {});
  const containers = [...document.querySelectorAll('#questions .question')];
  const answers = await Promise.all(
    containers.map((container) => answerOf(state.form.questions[Number(container.dataset.index)], container)),
  );
  const questions = state.form.questions.map((question, index) =>
    state.form.mode === 'formId'
      ? { questionId: question.questionId, ...(answers[index] === undefined ? {} : { answer: answers[index] }) }
      : {
          question: question.question,
          type: question.type,
          required: question.required === true,
          ...(question.options ? { options: question.options } : {}),
          ...(question.hint ? { hint: question.hint } : {}),
          ...(question.placeholder ? { placeholder: question.placeholder } : {}),
          ...(question.phi ? { phi: true } : {}),
          ...(answers[index] === undefined ? {} : { answer: answers[index] }),
        },
  );
  return {
    firstName: value('firstName'),
    lastName: value('lastName'),
    email: value('email'),
    ...optional('phoneNumber'),
    ...optional('dob'),
    ...optional('gender'),
    shippingAddress: {
      addressLine1: value('addressLine1'),
      addressLine2: value('addressLine2'),
      city: value('city'),
      state: value('shippingState'),
      country: 'US',
      postalCode: value('postalCode'),
    },
    idempotencyKey: state.idempotencyKey,
    ...(state.form.mode === 'formId'
      ? { formId: state.form.id }
      : { formTitle: state.form.title, formDescription: state.form.description }),
    questions,
    // The original, non-discounted amount, as the Case Create page says for both flows.
    paymentAmount: state.product.price,
    paymentDescription: state.product.name,
    [state.flow === 'setup' ? 'stripeSetupId' : 'stripePaymentId']: state.intentId,
    ...(state.promo ? { promoCode: state.promo.code } : {}),
  };
}

async function submit(event) {
  event.preventDefault();
  showPaymentError('');
  if (!validate()) return;
  const button = $('#submit');
  button.disabled = true;
  try {
    if (!state.intentId) {
      const email = form.email.value.trim();
      const result =
        state.flow === 'setup'
          ? await state.stripe.confirmSetup({
              elements: state.elements,
              redirect: 'if_required',
              confirmParams: { payment_method_data: { billing_details: { email } } },
            })
          : await state.stripe.confirmPayment({
              elements: state.elements,
              redirect: 'if_required',
              confirmParams: { return_url: location.href },
            });
      if (result.error) throw new Error(result.error.message);
      state.intentId = (result.setupIntent ?? result.paymentIntent).id;
    }
    const { data } = await postJson('/dynamic-case', await caseBody());
    form.hidden = true;
    $('#case-id').textContent = data.caseId;
    $('#done').hidden = false;
  } catch (error) {
    // The card step can be tried again; a case already paid for is sent again with the same idempotencyKey.
    showPaymentError(error.message);
    button.disabled = false;
  }
}

// ---- Start -----------------------------------------------------------------------------------------------------

async function start() {
  try {
    const config = await (await fetch('config.json')).json();
    state.relay = config.relay;
    state.product = config.product;
    const definition = await (await fetch('intake-form.json')).json();
    const [paymentConfig, forms] = await Promise.all([
      relay('/payments/config'),
      relay(`/forms?title=${encodeURIComponent(definition.title)}`),
    ]);
    state.paymentConfig = paymentConfig.data;
    const stored = forms.data.forms[0];
    // The form as care360 has it (form-id mode); before its first intake, this page's own definition, which that
    // intake stores (form-title mode).
    state.form = stored
      ? { mode: 'formId', id: stored.id, title: stored.title, questions: stored.questions }
      : { mode: 'formTitle', ...definition };
    form.dataset.formMode = state.form.mode;
    $('#questions').append(...state.form.questions.map(renderQuestion));
    form.shippingState.append(
      element('option', { value: '' }, 'Choose a state'),
      ...STATES.map(([code, label]) => element('option', { value: code }, label)),
    );
    $('#product').textContent = `${state.product.name}: ${dollars(state.product.price)}`;
    if (state.paymentConfig.stripe.mode !== 'live') {
      $('#mode').hidden = false;
      $('#mode').textContent =
        state.paymentConfig.stripe.mode === 'simulated'
          ? 'Test mode: care360 simulates the payment gateway; no card is charged.'
          : 'Stripe test mode: use a Stripe test card.';
    }
    showTotal();
    form.hidden = false;
  } catch (error) {
    $('#load-error').textContent = `The intake could not be loaded: ${error.message}`;
    $('#load-error').hidden = false;
  }
}

$('#apply-promo').addEventListener('click', applyPromo);
$('#to-card').addEventListener('click', continueToCard);
form.addEventListener('submit', submit);
start();
