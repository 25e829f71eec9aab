/**
 * What to type instead when an id of one kind was given where another kind is expected (a recovery
 * point id after `--image`, an image id after `--recovery-point`, a volume id as an image): the
 * API can only say that no such image or recovery point exists, so the CLI adds, under the API's
 * own message, which kind the id is and the command that takes it. Only ids whose prefix the
 * product always gives that kind are recognised; nothing is refused on a prefix alone, the hint is
 * added only once the API has refused the request.
 */
import { ApiCallError } from './api-client.ts';
import { CliError } from './exit-codes.ts';

/** The kinds of id a command expects. */
export type IdKind = 'image' | 'recovery point';

/**
 * Commands that take an id of a given kind, to suggest in a hint (`{id}` is the id given): one
 * line per command, as the operator would type it.
 */
export type Suggestions = Partial<Record<'image' | 'recovery point' | 'backup' | 'volume', string>>;

/** The kind of id the product names with each prefix: `rp-…` recovery points, `img-…` images. */
const ID_PREFIXES: readonly { readonly prefix: string; readonly kind: keyof Suggestions }[] = [
  { prefix: 'rp-', kind: 'recovery point' },
  { prefix: 'img-', kind: 'image' },
  { prefix: 'bk-', kind: 'backup' },
  { prefix: 'vol-', kind: 'volume' },
];

/** How an operator finds the id that was meant, from an id of another kind. */
const FIND_IT: Readonly<Record<keyof Suggestions, Partial<Record<IdKind, string>>>> = {
  'recovery point': { image: 'its images: rbp recovery-points show {id}' },
  image: { 'recovery point': 'the recovery points of its server: rbp recovery-points ls --server SERVER' },
  backup: {
    image: 'its image: rbp backup status {id}',
    'recovery point': 'its recovery point: rbp backup status {id}',
  },
  volume: {
    image: 'its images: rbp images ls --volume {id}',
    'recovery point': 'its server: rbp volumes ls',
  },
};

/** `an image`, `a volume`. */
function article(kind: string): string {
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}

/**
 * The hint for `id` given where a `expected` id belongs, or undefined when its prefix does not say
 * it is of another kind: `rp-1 is a recovery point id, not an image id; its images: rbp
 * recovery-points show rp-1` (then the lines of `suggestions` for the kind the id is).
 */
export function wrongIdHint(id: string, expected: IdKind, suggestions: Suggestions = {}): string | undefined {
  const given = ID_PREFIXES.find(({ prefix }) => id.startsWith(prefix))?.kind;
  if (given === undefined || given === expected) return undefined;
  const ways = [suggestions[given], FIND_IT[given][expected]]
    .filter((way): way is string => way !== undefined)
    .map((way) => way.replaceAll('{id}', id));
  return `${id} is ${article(given)} id, not ${article(expected)} id${ways.length === 0 ? '' : `; ${ways.join('; ')}`}`;
}

/**
 * `call`, with `wrongIdHint` added on a line of its own under the API's message when the API
 * refuses the request (400 or 404) and the id is of another kind; the exit code stays the API's.
 */
export async function withIdHint<T>(
  call: Promise<T>,
  id: string,
  expected: IdKind,
  suggestions: Suggestions = {},
): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (!(error instanceof ApiCallError) || (error.status !== 400 && error.status !== 404)) throw error;
    const hint = wrongIdHint(id, expected, suggestions);
    if (hint === undefined) throw error;
    throw new CliError(`${error.message}\n  ${hint}`, error.exitCode, { cause: error });
  }
}
