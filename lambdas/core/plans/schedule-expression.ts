/**
 * Validation of EventBridge Scheduler recurring expressions, field by field, so that a bad
 * schedule is refused when the plan is written (with every problem named) and not later by
 * CreateSchedule. The syntax is AWS's:
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 *
 * - `rate(value unit)`: a positive integer and `minute|minutes|hour|hours|day|days`
 *   (singular for 1, plural otherwise, as EventBridge documents for rate expressions:
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html).
 * - `cron(minutes hours day-of-month month day-of-week year)`: six fields; wildcards
 *   `, - * /` everywhere except that day-of-week has no `/`, `?` only in day-of-month or
 *   day-of-week (and exactly one of the two must be `?`), `L` and `W` in day-of-month, `L` and
 *   `#` in day-of-week.
 */

/** Largest rate value accepted: a year in minutes; a rarer plan is a one-off, not a schedule. */
export const MAX_RATE_VALUE = 525_600;
/** Longest expression accepted: CreateSchedule's ScheduleExpression is at most 256 characters. */
export const MAX_SCHEDULE_EXPRESSION_CHARS = 256;

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

export type ScheduleExpression =
  | { readonly kind: 'rate'; readonly value: number; readonly unit: 'minute' | 'hour' | 'day' }
  | {
      readonly kind: 'cron';
      readonly fields: {
        readonly minutes: string;
        readonly hours: string;
        readonly dayOfMonth: string;
        readonly month: string;
        readonly dayOfWeek: string;
        readonly year: string;
      };
    };

export type ParsedSchedule =
  | { readonly ok: true; readonly expression: ScheduleExpression }
  | { readonly ok: false; readonly problems: readonly string[] };

interface FieldRule {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** Index of names[0]: JAN is 1, SUN is 1. */
  readonly nameBase?: number;
  readonly slash: boolean;
  readonly question: boolean;
}

const FIELD_RULES: readonly FieldRule[] = [
  { name: 'minutes', min: 0, max: 59, slash: true, question: false },
  { name: 'hours', min: 0, max: 23, slash: true, question: false },
  { name: 'day-of-month', min: 1, max: 31, slash: true, question: true },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES, nameBase: 1, slash: true, question: false },
  { name: 'day-of-week', min: 1, max: 7, names: DAY_NAMES, nameBase: 1, slash: false, question: true },
  { name: 'year', min: 1970, max: 2199, slash: true, question: false },
];

/** The number a value names (digits, or a month/day name), or a problem. */
function valueOf(text: string, rule: FieldRule): number | string {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    if (value < rule.min || value > rule.max) {
      return `${rule.name}: ${text} is outside ${rule.min}-${rule.max}`;
    }
    return value;
  }
  const index = rule.names?.indexOf(text.toUpperCase()) ?? -1;
  if (index >= 0) return index + (rule.nameBase ?? 0);
  return `${rule.name}: ${JSON.stringify(text)} is not a value`;
}

/** Problems of one comma-separated element of a field (e.g. `1-5`, `*\/10`, `3#2`, `15W`). */
function elementProblems(element: string, rule: FieldRule): string[] {
  if (element === '') return [`${rule.name}: empty element`];
  if (element === '*') return [];
  if (rule.name === 'day-of-month') {
    if (element === 'L') return [];
    const weekday = /^(\d+)W$/.exec(element);
    if (weekday?.[1] !== undefined) return problemsOfValue(weekday[1], rule);
  }
  if (rule.name === 'day-of-week') {
    if (element === 'L') return [];
    const last = /^([^#L]+)L$/.exec(element);
    if (last?.[1] !== undefined) return problemsOfValue(last[1], rule);
    const nth = /^([^#]+)#(\d+)$/.exec(element);
    if (nth?.[1] !== undefined && nth[2] !== undefined) {
      const occurrence = Number(nth[2]);
      const problems = problemsOfValue(nth[1], rule);
      if (occurrence < 1 || occurrence > 5) problems.push(`${rule.name}: #${nth[2]} must be 1-5`);
      return problems;
    }
  }
  const [range, step, extra] = element.split('/');
  if (extra !== undefined) return [`${rule.name}: ${JSON.stringify(element)} has more than one /`];
  const problems: string[] = [];
  if (step !== undefined) {
    if (!rule.slash) return [`${rule.name}: / is not allowed in this field`];
    if (!/^\d+$/.test(step) || Number(step) < 1) {
      problems.push(`${rule.name}: step ${JSON.stringify(step)} must be a positive integer`);
    }
  }
  if (range === undefined || range === '*') return problems;
  const bounds = range.split('-');
  if (bounds.length > 2) return [...problems, `${rule.name}: ${JSON.stringify(range)} is not a range`];
  const values = bounds.map((b) => valueOf(b, rule));
  for (const v of values) if (typeof v === 'string') problems.push(v);
  const [low, high] = values;
  if (typeof low === 'number' && typeof high === 'number' && low > high) {
    problems.push(`${rule.name}: range ${range} runs backwards`);
  }
  return problems;
}

function problemsOfValue(text: string, rule: FieldRule): string[] {
  const value = valueOf(text, rule);
  return typeof value === 'string' ? [value] : [];
}

function fieldProblems(field: string, rule: FieldRule): string[] {
  if (field === '?')
    return rule.question ? [] : [`${rule.name}: ? is allowed only in day-of-month or day-of-week`];
  return field.split(',').flatMap((element) => elementProblems(element, rule));
}

function parseRate(body: string): ParsedSchedule {
  const match = /^(\d+) (minute|minutes|hour|hours|day|days)$/.exec(body);
  if (match?.[1] === undefined || match[2] === undefined) {
    return { ok: false, problems: ['rate: must be rate(<positive integer> minute(s)|hour(s)|day(s))'] };
  }
  const value = Number(match[1]);
  const unitText = match[2];
  const singular = unitText.replace(/s$/, '') as 'minute' | 'hour' | 'day';
  const problems: string[] = [];
  if (value < 1 || value > MAX_RATE_VALUE) problems.push(`rate: value must be 1-${MAX_RATE_VALUE}`);
  if (value === 1 && unitText !== singular)
    problems.push(`rate: a value of 1 takes the singular unit ${singular}`);
  if (value > 1 && unitText === singular)
    problems.push(`rate: a value above 1 takes the plural unit ${singular}s`);
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, expression: { kind: 'rate', value, unit: singular } };
}

function parseCron(body: string): ParsedSchedule {
  const fields = body.split(' ');
  if (fields.length !== 6 || fields.some((f) => f === '')) {
    return {
      ok: false,
      problems: [
        'cron: must have six fields separated by single spaces: minutes hours day-of-month month day-of-week year',
      ],
    };
  }
  const problems = fields.flatMap((field, index) => fieldProblems(field, FIELD_RULES[index] as FieldRule));
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    problems.push('cron: exactly one of day-of-month and day-of-week must be ?');
  }
  return problems.length > 0
    ? { ok: false, problems }
    : {
        ok: true,
        expression: { kind: 'cron', fields: { minutes, hours, dayOfMonth, month, dayOfWeek, year } },
      };
}

/** Parses `rate(...)` or `cron(...)`; `at(...)` one-time schedules are not plan schedules. */
export function parseScheduleExpression(text: string): ParsedSchedule {
  if (text.length > MAX_SCHEDULE_EXPRESSION_CHARS) {
    return { ok: false, problems: [`longer than ${MAX_SCHEDULE_EXPRESSION_CHARS} characters`] };
  }
  const match = /^(rate|cron)\((.*)\)$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) {
    return { ok: false, problems: ['must be cron(...) or rate(...)'] };
  }
  return match[1] === 'rate' ? parseRate(match[2]) : parseCron(match[2]);
}
