/**
 * SDK clients of the orchestration Lambdas, one per container, traced by X-Ray through Powertools.
 * The SDK's own retries stay on (3 attempts): these are control-plane calls that the state machine
 * retries again only after the Lambda fails, and they carry no request budget.
 */
import { DrsClient } from '@aws-sdk/client-drs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tracer } from './step-handler.ts';

export const ec2Client = (): EC2Client => tracer.captureAWSv3Client(new EC2Client({}));
export const drsClient = (): DrsClient => tracer.captureAWSv3Client(new DrsClient({}));
export const eventBridgeClient = (): EventBridgeClient =>
  tracer.captureAWSv3Client(new EventBridgeClient({}));
export const snsClient = (): SNSClient => tracer.captureAWSv3Client(new SNSClient({}));
export const documentClient = (): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  });
