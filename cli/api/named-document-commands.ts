/**
 * The commands every named document of the REST API has (plans, workflows): `create --file`,
 * `ls`, `show`, `update --file`, `enable` and `disable`, over `POST /<kind>s`, `GET /<kind>s`,
 * `GET|PUT /<kind>s/{name}`. A group adds its own delete and run commands after these.
 */
import type { Command } from 'commander';
import { apiContext, listAll, withApiOptions, type ApiCommandOptions } from './context.ts';
import { readJsonFile } from './json-file.ts';
import type { Column, Printer } from './output.ts';

/** What the API answers for one named document. */
export interface NamedDocumentView {
  readonly name: string;
  readonly revision: number;
  readonly enabled: boolean;
  readonly document: object;
}

/** One kind of named document and the words its commands use. */
export interface NamedDocumentKind<V extends NamedDocumentView> {
  /** The noun in messages and help: `plan`, `workflow`; the collection is `/<noun>s`. */
  readonly noun: string;
  /** A document name for the help examples. */
  readonly example: string;
  /** Said of a document before its revision in the one-line answers (a workflow's type). */
  readonly label?: (view: V) => string;
  /** The columns of `ls`. */
  readonly columns: readonly Column<V>[];
  /** What `update` may not change, in the help: `the name must stay the same`. */
  readonly updateRule: string;
  readonly enableDescription: string;
  readonly disableDescription: string;
}

/** `/<noun>s/<name>`, the name URL-encoded. */
export function namedDocumentPath(noun: string, name: string): string {
  return `/${noun}s/${encodeURIComponent(name)}`;
}

function printDocument<V extends NamedDocumentView>(
  kind: NamedDocumentKind<V>,
  print: Printer,
  view: V,
  verb: string,
): void {
  const state = `revision ${view.revision}, ${view.enabled ? 'enabled' : 'disabled'}`;
  print.message(
    view,
    `${kind.noun} ${view.name} ${verb} (${kind.label === undefined ? '' : `${kind.label(view)}, `}${state})`,
  );
}

/** Registers create, ls, show, update, enable and disable of `kind` on its command group. */
export function registerNamedDocumentCommands<V extends NamedDocumentView>(
  group: Command,
  kind: NamedDocumentKind<V>,
): void {
  const { noun, example } = kind;
  const collection = `/${noun}s`;
  const path = (name: string) => namedDocumentPath(noun, name);
  const exampleHelp = (args: string) => `\nExample:\n  $ rbp ${noun}s ${args}`;

  withApiOptions(group.command('create'))
    .addHelpText('after', exampleHelp(`create --file ${example}.json`))
    .description(`create a ${noun} from a JSON document (every problem is listed when it is refused)`)
    .requiredOption('--file <path>', `the ${noun} document (JSON)`)
    .action(async (options: ApiCommandOptions & { file: string }) => {
      const document = await readJsonFile(options.file);
      const { client, print } = await apiContext(options);
      printDocument(kind, print, await client.post<V>(collection, document), 'created');
    });

  withApiOptions(group.command('ls'))
    .addHelpText('after', exampleHelp('ls --json'))
    .description(`list the ${noun}s`)
    .action(async (options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const items = await listAll<V>(client, collection);
      print.result(items, items, kind.columns);
    });

  withApiOptions(group.command('show'))
    .addHelpText('after', exampleHelp(`show ${example}`))
    .description(`show a ${noun} document`)
    .argument('<name>', `the ${noun}`)
    .action(async (name: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const view = await client.get<V>(path(name));
      print.message(view, JSON.stringify(view.document, null, 2));
    });

  withApiOptions(group.command('update'))
    .addHelpText('after', exampleHelp(`update ${example} --file ${example}.json`))
    .description(`replace a ${noun} document (${kind.updateRule})`)
    .argument('<name>', `the ${noun}`)
    .requiredOption('--file <path>', `the new ${noun} document (JSON)`)
    .action(async (name: string, options: ApiCommandOptions & { file: string }) => {
      const document = await readJsonFile(options.file);
      const { client, print } = await apiContext(options);
      printDocument(kind, print, await client.put<V>(path(name), document), 'updated');
    });

  const setEnabled = async (options: ApiCommandOptions, name: string, enabled: boolean) => {
    const { client, print } = await apiContext(options);
    const current = await client.get<V>(path(name));
    const updated = await client.put<V>(path(name), { ...current.document, enabled });
    printDocument(kind, print, updated, enabled ? 'enabled' : 'disabled');
  };
  for (const [verb, enabled, description] of [
    ['enable', true, kind.enableDescription],
    ['disable', false, kind.disableDescription],
  ] as const) {
    withApiOptions(group.command(verb))
      .addHelpText('after', exampleHelp(`${verb} ${example}`))
      .description(description)
      .argument('<name>', `the ${noun}`)
      .action((name: string, options: ApiCommandOptions) => setEnabled(options, name, enabled));
  }
}
