import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RoutingProfileSchema } from '../../../shared/routing/resolve.ts';
import type { Architecture } from '../model/contract.ts';
import { ConvertError } from './source.ts';

/**
 * Routing profiles that ship with a checkpoint (`<checkpoint>/profiles/<name>.json`, e.g. the
 * calibrated genre profiles of the default model) are copied into the model's profiles/ folder,
 * where `routing.profile` finds them. Each is validated first: a profile the backend would refuse
 * at request time should fail the conversion instead.
 */
export function copyProfiles(srcDir: string, outProfilesDir: string, arch: Pick<Architecture, 'numLayers' | 'numExperts'>): string[] {
  mkdirSync(outProfilesDir, { recursive: true });
  const from = join(srcDir, 'profiles');
  if (!existsSync(from)) return [];
  const names: string[] = [];
  for (const file of readdirSync(from).filter((f) => f.endsWith('.json')).sort()) {
    const path = join(from, file);
    let profile;
    try {
      profile = RoutingProfileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
    } catch (err) {
      throw new ConvertError(`${path}: not a valid routing profile (${(err as Error).message.split('\n')[0]})`);
    }
    const name = file.slice(0, -'.json'.length);
    if (profile.name !== name) throw new ConvertError(`${path}: profile name '${profile.name}' does not match its file name`);
    for (const [layer, ids] of Object.entries(profile.key_experts ?? {})) {
      if (layer !== '*' && Number(layer) >= arch.numLayers) throw new ConvertError(`${path}: key_experts layer ${layer} >= ${arch.numLayers} layers`);
      const bad = ids.find((e) => e >= arch.numExperts);
      if (bad !== undefined) throw new ConvertError(`${path}: key expert ${bad} >= ${arch.numExperts} experts`);
    }
    if (profile.layer_sensitivity && profile.layer_sensitivity.length !== arch.numLayers) {
      throw new ConvertError(`${path}: layer_sensitivity has ${profile.layer_sensitivity.length} entries for ${arch.numLayers} layers`);
    }
    copyFileSync(path, join(outProfilesDir, file));
    names.push(name);
  }
  return names;
}
