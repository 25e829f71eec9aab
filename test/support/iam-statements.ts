/**
 * The IAM statements of a role in a synthesised template: its default policy and, once that
 * policy is full, the overflow managed policies CDK adds for the role (their logical ids start
 * with the role's too). A test that read only the default policy would miss a grant that moved.
 */
export type TemplateResource = { Type: string; Properties: Record<string, unknown> };
export type IamStatement = {
  Effect?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

export function roleStatements(
  resources: Readonly<Record<string, TemplateResource>>,
  rolePrefix: string,
): IamStatement[] {
  return Object.entries(resources)
    .filter(
      ([id, r]) =>
        (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') && id.startsWith(rolePrefix),
    )
    .flatMap(([, r]) => (r.Properties['PolicyDocument'] as { Statement: IamStatement[] }).Statement);
}
