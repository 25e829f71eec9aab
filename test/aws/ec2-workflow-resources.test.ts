/**
 * Ec2WorkflowResources.detach against EC2's answers (a scripted client: aws-sdk-client-mock 4.1's
 * types do not accept this SDK's command classes): a volume that no longer
 * exists is already detached, whether DetachVolume or the wait for `available` finds it gone; a
 * volume still attached after DETACH_WAIT_SECONDS is a RetryableError.
 */
import {
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type DescribeVolumesCommandOutput,
  type DetachVolumeCommandOutput,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DETACH_WAIT_SECONDS, Ec2WorkflowResources } from '../../lambdas/aws/ec2-workflow-resources.ts';
import { RetryableError } from '../../lambdas/core/errors.ts';

const VOLUME = 'vol-0123456789abcdef0';
const INSTANCE = 'i-0123456789abcdef0';

/** An EC2 error as the SDK throws it: the error code is the name. */
function ec2Error(code: string): Error {
  return Object.assign(new Error(`${code}: the volume '${VOLUME}' does not exist.`), {
    name: code,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

type Answer<T> = Partial<T> | Error;

/** An EC2 client that answers DetachVolume and DescribeVolumes as scripted and records the calls. */
class ScriptedEc2 {
  readonly detachCalls: unknown[] = [];
  describeCalls = 0;

  constructor(
    private readonly detachAnswer: Answer<DetachVolumeCommandOutput>,
    private readonly describeAnswer: Answer<DescribeVolumesCommandOutput>,
  ) {}

  send(command: unknown): Promise<unknown> {
    let answer: Answer<unknown>;
    if (command instanceof DetachVolumeCommand) {
      this.detachCalls.push(command.input);
      answer = this.detachAnswer;
    } else if (command instanceof DescribeVolumesCommand) {
      this.describeCalls += 1;
      answer = this.describeAnswer;
    } else {
      return Promise.reject(new Error(`unexpected command ${String(command)}`));
    }
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve({ $metadata: {}, ...answer });
  }
}

function resources(ec2: ScriptedEc2): Ec2WorkflowResources {
  return new Ec2WorkflowResources(ec2 as unknown as EC2Client);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Ec2WorkflowResources.detach', () => {
  it('a volume DetachVolume finds gone is done at once: no wait, no DescribeVolumes', async () => {
    const ec2 = new ScriptedEc2(ec2Error('InvalidVolume.NotFound'), ec2Error('InvalidVolume.NotFound'));
    const started = Date.now();
    await expect(resources(ec2).detach(VOLUME, INSTANCE)).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(ec2.detachCalls).toEqual([{ VolumeId: VOLUME, InstanceId: INSTANCE }]);
    expect(ec2.describeCalls).toBe(0);
  });

  it('a volume deleted while it detached is done', async () => {
    const ec2 = new ScriptedEc2(
      { State: 'detaching' },
      { Volumes: [{ VolumeId: VOLUME, State: 'deleted' }] },
    );
    await expect(resources(ec2).detach(VOLUME, INSTANCE)).resolves.toBeUndefined();
  });

  it('a volume that disappears while the detach waits is done once the wait ends', async () => {
    vi.useFakeTimers();
    const ec2 = new ScriptedEc2({ State: 'detaching' }, ec2Error('InvalidVolume.NotFound'));
    const detached = resources(ec2).detach(VOLUME, INSTANCE);
    await vi.advanceTimersByTimeAsync((DETACH_WAIT_SECONDS + 1) * 1000);
    await expect(detached).resolves.toBeUndefined();
  });

  it(`a volume still attached after ${DETACH_WAIT_SECONDS} s is a RetryableError naming it`, async () => {
    vi.useFakeTimers();
    const ec2 = new ScriptedEc2({ State: 'detaching' }, { Volumes: [{ VolumeId: VOLUME, State: 'in-use' }] });
    const detached = resources(ec2)
      .detach(VOLUME, INSTANCE)
      .catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync((DETACH_WAIT_SECONDS + 1) * 1000);
    const error = await detached;
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({
      message: `volume ${VOLUME} was not detached from ${INSTANCE} within ${DETACH_WAIT_SECONDS} s`,
      context: { volumeId: VOLUME, instanceId: INSTANCE },
    });
  });
});
