import { validationError } from '../validation.ts';
import type { QuestionType } from './types.ts';

/** The 50 states and the District of Columbia, by USPS code. */
export const US_STATES: Readonly<Record<string, string>> = {
  AL: 'Alabama',
  AK: 'Alaska',
  AZ: 'Arizona',
  AR: 'Arkansas',
  CA: 'California',
  CO: 'Colorado',
  CT: 'Connecticut',
  DE: 'Delaware',
  DC: 'District of Columbia',
  FL: 'Florida',
  GA: 'Georgia',
  HI: 'Hawaii',
  ID: 'Idaho',
  IL: 'Illinois',
  IN: 'Indiana',
  IA: 'Iowa',
  KS: 'Kansas',
  KY: 'Kentucky',
  LA: 'Louisiana',
  ME: 'Maine',
  MD: 'Maryland',
  MA: 'Massachusetts',
  MI: 'Michigan',
  MN: 'Minnesota',
  MS: 'Mississippi',
  MO: 'Missouri',
  MT: 'Montana',
  NE: 'Nebraska',
  NV: 'Nevada',
  NH: 'New Hampshire',
  NJ: 'New Jersey',
  NM: 'New Mexico',
  NY: 'New York',
  NC: 'North Carolina',
  ND: 'North Dakota',
  OH: 'Ohio',
  OK: 'Oklahoma',
  OR: 'Oregon',
  PA: 'Pennsylvania',
  RI: 'Rhode Island',
  SC: 'South Carolina',
  SD: 'South Dakota',
  TN: 'Tennessee',
  TX: 'Texas',
  UT: 'Utah',
  VT: 'Vermont',
  VA: 'Virginia',
  WA: 'Washington',
  WV: 'West Virginia',
  WI: 'Wisconsin',
  WY: 'Wyoming',
};

const CODES_BY_NAME = new Map(Object.entries(US_STATES).map(([code, name]) => [name.toLowerCase(), code]));

/**
 * WIDGET_STATE_PICKER: a US state. Form-title mode accepts the full name ("California", any case) or
 * the 2-letter code; form-id mode the 2-letter code only (any case). Stored as the upper-case code.
 */
export const widgetStatePicker: QuestionType = {
  name: 'WIDGET_STATE_PICKER',
  needsOptions: false,
  takesAnswer: true,
  parse(answer, { mode, path }) {
    if (typeof answer === 'string') {
      const value = answer.trim().replace(/\s+/g, ' ');
      const code = value.toUpperCase();
      if (code.length === 2 && code in US_STATES) return { value: code };
      const byName = mode === 'formTitle' ? CODES_BY_NAME.get(value.toLowerCase()) : undefined;
      if (byName) return { value: byName };
    }
    throw validationError(
      path,
      mode === 'formId'
        ? 'Must be a 2-character US state code (e.g. "CA", "NY")'
        : 'Must be a US state name (e.g. "California") or 2-character code (e.g. "CA")',
    );
  },
};
