/**
 * EventBridge and SNS publishers of the orchestration: checkpoint requests/releases and backup
 * outcomes go to EventBridge (source `rbp.backup`); outcomes also go to the SNS topic.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { RetryableError } from '../core/errors.ts';
import { EVENT_SOURCE } from '../core/orchestration/checkpoint.ts';
import type { EventPublisher, Notifier } from '../core/orchestration/orchestration-ports.ts';
import { translateSdkError } from './sdk-errors.ts';

export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly events: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publish(detailType: string, detail: object): Promise<void> {
    let answer;
    try {
      answer = await this.events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: this.eventBusName,
              Source: EVENT_SOURCE,
              DetailType: detailType,
              Detail: JSON.stringify(detail),
            },
          ],
        }),
      );
    } catch (error) {
      throw translateSdkError(error, 'PutEvents', { detailType });
    }
    if ((answer.FailedEntryCount ?? 0) > 0) {
      const entry = answer.Entries?.[0];
      throw new RetryableError(
        `PutEvents refused the ${detailType} event: ${entry?.ErrorCode ?? '?'} ${entry?.ErrorMessage ?? ''}`.trimEnd(),
        {
          context: { detailType },
        },
      );
    }
  }
}

export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async notify(subject: string, message: string): Promise<void> {
    try {
      await this.sns.send(
        new PublishCommand({ TopicArn: this.topicArn, Subject: subject, Message: message }),
      );
    } catch (error) {
      throw translateSdkError(error, 'SNS Publish', { topicArn: this.topicArn });
    }
  }
}
