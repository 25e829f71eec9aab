/**
 * Object writes granted by name. CDK's `bucket.grantPut` also grants s3:PutObjectLegalHold,
 * s3:PutObjectRetention, s3:PutObjectTagging, s3:PutObjectVersionTagging and s3:Abort*: with them a
 * writer could lift an operator's legal hold or lock its objects for decades. A role here gets
 * s3:PutObject on its keys, s3:AbortMultipartUpload only when it uploads in parts, and the bucket
 * key's encrypt actions an SSE-KMS PUT needs (kms:GenerateDataKey*, as grantPut gives them:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html). Locks are granted
 * apart, only with Object Lock (grantObjectLockRetention in backup-storage.ts).
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';

export interface ObjectPutOptions {
  /**
   * The role uploads in parts (CreateMultipartUpload/UploadPart/CompleteMultipartUpload need
   * s3:PutObject; aborting needs s3:AbortMultipartUpload:
   * https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions).
   */
  readonly multipart?: boolean;
}

/** s3:PutObject (and with `multipart` s3:AbortMultipartUpload) on `keyPattern` of `bucket`. */
export function grantObjectPut(
  bucket: s3.IBucket,
  grantee: iam.IGrantable,
  keyPattern: string,
  options: ObjectPutOptions = {},
): void {
  iam.Grant.addToPrincipal({
    grantee,
    actions: options.multipart === true ? ['s3:PutObject', 's3:AbortMultipartUpload'] : ['s3:PutObject'],
    resourceArns: [bucket.arnForObjects(keyPattern)],
  });
  bucket.encryptionKey?.grantEncrypt(grantee);
}
