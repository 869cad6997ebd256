// Alert levels (警戒レベル) with the Cabinet Office guideline colours, the same as
// notify/messages.py uses for push notifications and the resident page.

export const LEVEL_COLOURS = {
  1: '#FFFFFF', 2: '#F2E700', 3: '#FF2800', 4: '#AA00AA', 5: '#0C000C',
};
export const LEVEL_TEXT_COLOURS = {
  1: '#000000', 2: '#000000', 3: '#FFFFFF', 4: '#FFFFFF', 5: '#FFFFFF',
};
export const STAGE_COLOURS = ['#5b8def', '#3bb273', '#F2E700', '#FF2800', '#AA00AA'];

export function levelColour(level) {
  return LEVEL_COLOURS[level] || '#808080';
}
