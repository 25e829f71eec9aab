/**
 * Tags as the EC2 and EBS APIs take them: a list of `{ Key, Value }` (CreateSnapshot's and
 * CreateVolume's TagSpecifications, CreateTags, StartSnapshot).
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Tag.html
 */
export function tagList(tags: Readonly<Record<string, string>>): { Key: string; Value: string }[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
