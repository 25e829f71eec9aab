/**
 * The synthesized stack stays inside the hard limits that make a deployment fail only on AWS,
 * after `cdk synth` and cdk-nag have passed and where the local stack cannot see them:
 * - a Lambda function's resource-based policy holds at most 20 KB
 *   (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); each
 *   AWS::Lambda::Permission adds one statement, and AddPermission past the limit fails with
 *   PolicyLengthExceededException;
 * - a role's inline policies hold at most 10,240 characters together and a managed policy at most
 *   6,144, white space not counted
 *   (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html);
 * - a stack holds at most 500 resources and a template uploaded through S3 at most 1 MB
 *   (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
 */
import { describe, expect, it } from 'vitest';
import { useSynthTemplate, type Resource } from './synth.ts';

/** Lambda's limit on one function's resource-based policy, in bytes. */
const LAMBDA_RESOURCE_POLICY_LIMIT_BYTES = 20_480;
/** IAM's limit on one role's inline policies together, in characters without white space. */
const IAM_ROLE_INLINE_POLICIES_MAX_CHARS = 10_240;
/** IAM's limit on one managed policy, in characters without white space. */
const IAM_MANAGED_POLICY_MAX_CHARS = 6_144;
/** An ARN placeholder's resource part: longer than the names CloudFormation generates. */
const RESOURCE_NAME = 'r'.repeat(128);
/** CloudFormation's resources per stack. */
const CLOUDFORMATION_MAX_RESOURCES = 500;
/** CloudFormation's template size when the template is uploaded to S3 (as `cdk deploy` does). */
const CLOUDFORMATION_MAX_TEMPLATE_BYTES = 1_000_000;
/**
 * Share of a CloudFormation limit the default stack may use: each configured server adds an RPO
 * alarm, each configured plan its records and schedules, so the default leaves a fifth for them.
 */
const DEFAULT_STACK_SHARE_OF_LIMIT = 0.8;

/** Placeholders as long as the real values can be, so a rendered policy is never shorter than AWS's. */
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
/** Lambda function names are at most 64 characters. */
const FUNCTION_NAME = 'f'.repeat(64);
/** REST API ids are 10 characters. */
const REST_API_ID = 'a1b2c3d4e5';
/** CloudFormation names a permission `<stack>-<logical id>-<random>`; Lambda statement ids are at most 100. */
const STATEMENT_ID_CHARS = 100;

/** Renders a template value with the placeholders above (enough intrinsics for a permission's properties). */
function render(value: unknown, resources: Record<string, Resource>): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return String(value);
  const v = value as Record<string, unknown>;
  if ('Ref' in v) {
    const ref = v['Ref'] as string;
    if (ref === 'AWS::Partition') return 'aws';
    if (ref === 'AWS::Region') return REGION;
    if (ref === 'AWS::AccountId') return ACCOUNT;
    const type = resources[ref]?.Type;
    if (type === 'AWS::ApiGateway::RestApi') return REST_API_ID;
    if (type === 'AWS::ApiGateway::Stage') return 'v1';
    return RESOURCE_NAME;
  }
  if ('Fn::GetAtt' in v) {
    const [resource, attribute] = v['Fn::GetAtt'] as [string, string];
    if (attribute === 'Arn' && resources[resource]?.Type === 'AWS::Lambda::Function')
      return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FUNCTION_NAME}`;
    return `arn:aws:service:${REGION}:${ACCOUNT}:${RESOURCE_NAME}`;
  }
  if ('Fn::Sub' in v || 'Fn::Select' in v || 'Fn::ImportValue' in v) return RESOURCE_NAME;
  if ('Fn::Join' in v) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => render(part, resources)).join(separator);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** A policy document with every intrinsic function rendered (render above), for measuring. */
function renderDocument(value: unknown, resources: Record<string, Resource>): unknown {
  if (Array.isArray(value)) return value.map((item) => renderDocument(item, resources));
  if (typeof value !== 'object' || value === null) return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::')))
    return render(value, resources);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDocument(v, resources)]));
}

/** A document's size as IAM counts it: its JSON without white space. */
function policyChars(document: unknown, resources: Record<string, Resource>): number {
  return JSON.stringify(renderDocument(document, resources)).replace(/\s/g, '').length;
}

/** The function a permission is for: the logical id in its FunctionName's GetAtt. */
function functionOf(permission: Resource): string {
  const name = permission.Properties['FunctionName'] as { 'Fn::GetAtt'?: [string, string] };
  if (name['Fn::GetAtt'] === undefined) throw new Error(`unexpected FunctionName ${JSON.stringify(name)}`);
  return name['Fn::GetAtt'][0];
}

/** Each function's resource-based policy as Lambda would store it from the template's permissions. */
function resourcePolicies(resources: Record<string, Resource>): Map<string, Record<string, unknown>[]> {
  const policies = new Map<string, Record<string, unknown>[]>();
  for (const permission of Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Permission')) {
    const p = permission.Properties;
    const statement: Record<string, unknown> = {
      Sid: 's'.repeat(STATEMENT_ID_CHARS),
      Effect: 'Allow',
      Principal: { Service: render(p['Principal'], resources) },
      Action: render(p['Action'], resources),
      Resource: render(p['FunctionName'], resources),
      ...(p['SourceArn'] === undefined
        ? {}
        : { Condition: { ArnLike: { 'AWS:SourceArn': render(p['SourceArn'], resources) } } }),
    };
    const fn = functionOf(permission);
    policies.set(fn, [...(policies.get(fn) ?? []), statement]);
  }
  return policies;
}

describe('the stack inside the limits that fail only at deploy time', () => {
  const template = useSynthTemplate('rbp-deploy-limits-');

  it('gives the API function one invoke permission for the whole API, from its own execute-api ARN', () => {
    const { resources } = template();
    const apiFunction = Object.keys(resources).find(
      (id) => resources[id]!.Type === 'AWS::Lambda::Function' && id.startsWith('ReplicaBackupApiFunction'),
    );
    expect(apiFunction).toBeDefined();
    const statements = resourcePolicies(resources).get(apiFunction!) ?? [];
    expect(statements).toEqual([
      {
        Sid: 's'.repeat(STATEMENT_ID_CHARS),
        Effect: 'Allow',
        Principal: { Service: 'apigateway.amazonaws.com' },
        Action: 'lambda:InvokeFunction',
        Resource: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FUNCTION_NAME}`,
        Condition: {
          ArnLike: { 'AWS:SourceArn': `arn:aws:execute-api:${REGION}:${ACCOUNT}:${REST_API_ID}/*/*/*` },
        },
      },
    ]);
  });

  it("keeps every function's resource-based policy under Lambda's 20 KB", () => {
    const policies = resourcePolicies(template().resources);
    expect(policies.size).toBeGreaterThan(0);
    for (const [fn, statements] of policies) {
      const bytes = Buffer.byteLength(
        JSON.stringify({ Version: '2012-10-17', Id: 'default', Statement: statements }),
      );
      expect(bytes, `${fn}'s resource-based policy`).toBeLessThan(LAMBDA_RESOURCE_POLICY_LIMIT_BYTES);
    }
  });

  it("keeps every role's inline policies and every managed policy under IAM's limits", () => {
    const { resources } = template();
    const inline = new Map<string, number>();
    const add = (role: string, chars: number): void => void inline.set(role, (inline.get(role) ?? 0) + chars);
    for (const [id, resource] of Object.entries(resources)) {
      const p = resource.Properties;
      if (resource.Type === 'AWS::IAM::Policy')
        for (const role of (p['Roles'] ?? []) as { Ref: string }[])
          add(role.Ref, policyChars(p['PolicyDocument'], resources));
      if (resource.Type === 'AWS::IAM::Role')
        for (const policy of (p['Policies'] ?? []) as { PolicyDocument: unknown }[])
          add(id, policyChars(policy.PolicyDocument, resources));
      if (resource.Type === 'AWS::IAM::ManagedPolicy')
        expect(policyChars(p['PolicyDocument'], resources), id).toBeLessThan(IAM_MANAGED_POLICY_MAX_CHARS);
    }
    expect(inline.size).toBeGreaterThan(0);
    for (const [role, chars] of inline)
      expect(chars, `${role}'s inline policies`).toBeLessThan(IAM_ROLE_INLINE_POLICIES_MAX_CHARS);
  });

  it("leaves a fifth of CloudFormation's resource and template-size limits to the configuration", () => {
    const { resources, templateBytes } = template();
    expect(Object.keys(resources).length).toBeLessThan(
      CLOUDFORMATION_MAX_RESOURCES * DEFAULT_STACK_SHARE_OF_LIMIT,
    );
    expect(templateBytes).toBeLessThan(CLOUDFORMATION_MAX_TEMPLATE_BYTES * DEFAULT_STACK_SHARE_OF_LIMIT);
  });
});
