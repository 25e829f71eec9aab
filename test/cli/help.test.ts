/** `rbp ... --help`: required options marked, an example for every command, ids in their real formats. */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { REQUIRED_MARK } from '../../cli/help.ts';
import { buildProgram } from '../../cli/program.ts';

function leaves(command: Command, path: string[] = []): { name: string; command: Command }[] {
  const here = [...path, command.name()];
  if (command.commands.length === 0) return [{ name: here.join(' '), command }];
  return command.commands.flatMap((sub) => leaves(sub, here));
}

function helpOf(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  command.outputHelp();
  return text;
}

const all = leaves(buildProgram());

describe('rbp help', () => {
  it('marks every mandatory option as required', () => {
    const unmarked = all.flatMap(({ name, command }) =>
      command.options
        .filter((o) => o.mandatory)
        .filter((o) => !o.description.endsWith(REQUIRED_MARK))
        .map((o) => `${name} ${o.flags}`),
    );
    expect(unmarked).toEqual([]);
    expect(helpOf(all.find((c) => c.name === 'rbp restore file')!.command)).toMatch(
      /--image <imageId>\s+the image to restore from \(required\)/,
    );
  });

  it('gives an example for every command', () => {
    expect(
      all.filter(({ command }) => !/Examples?:\n\s+\$ rbp /.test(helpOf(command))).map((c) => c.name),
    ).toEqual([]);
  });

  it('writes image and volume ids in their real formats in examples', () => {
    const wrong = all.flatMap(({ name, command }) =>
      [...helpOf(command).matchAll(/\b(img|vol|bk|rs)-[\w-]*/g)]
        .map((m) => m[0])
        .filter(
          (id) =>
            !/^img-bk-\d{8}t\d{9}z-[0-9a-f]{16}$/.test(id) &&
            !/^vol-[0-9a-f]{17}$/.test(id) &&
            !/^(bk|rs)-\d{8}t\d{9}z-[0-9a-f]{16}$/.test(id),
        )
        .map((id) => `${name}: ${id}`),
    );
    expect(wrong).toEqual([]);
  });
});
