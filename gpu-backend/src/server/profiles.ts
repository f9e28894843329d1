import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RoutingProfileSchema, type RoutingProfile } from '../../../shared/routing/resolve.ts';

export type ProfileLoader = (name: string) => Promise<RoutingProfile>;

/**
 * Loads `<profilesDir>/<name>.json` once and keeps it: profiles ship with the model and do not change
 * while it is served. The name was already checked against modelInfo().routing.profiles and the
 * schema's character set, so it cannot escape the folder.
 */
export function profileLoader(profilesDir: string): ProfileLoader {
  const cache = new Map<string, Promise<RoutingProfile>>();
  return (name) => {
    let profile = cache.get(name);
    if (!profile) {
      profile = readFile(join(profilesDir, `${name}.json`), 'utf8').then((text) => RoutingProfileSchema.parse(JSON.parse(text)));
      // A failed read is a server fault worth retrying on the next request, not caching.
      profile.catch(() => cache.delete(name));
      cache.set(name, profile);
    }
    return profile;
  };
}
