"""WCAG 2 contrast of the text a person sees, measured in the real browser.

`offenders(driver)` runs a small script through selenium's execute_script (the page
itself carries no inline script) that walks every visible element holding text of its
own, takes its computed colour (with the opacity of it and its ancestors), finds the
background behind it by walking up the ancestors and blending translucent layers over
white, and computes the contrast ratio. Text of 24 px, or 18.66 px bold, needs 3:1;
other text 4.5:1. Disabled controls are exempt, as WCAG allows. Elements over a
background image cannot be judged and are skipped; Hummer's pages use none for text.

Use it from any browser test:  assert not offenders(driver), offenders(driver)
"""
from __future__ import annotations

CHECK = r"""
const parse = (c) => {
  const m = c.match(/rgba?\(([^)]+)\)/);
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, bottom) => {           // top (with alpha) composited over an opaque bottom
  const a = top[3];
  return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
};
const lum = (c) => {
  const [r, g, b] = c.slice(0, 3).map(v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const ratio = (a, b) => {
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};
const background = (el) => {               // the colour behind el's text
  const layers = [];
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const s = getComputedStyle(n);
    if (s.backgroundImage && s.backgroundImage !== 'none' && !s.backgroundImage.startsWith('url(')) {
      return null;                         // a gradient: cannot be judged
    }
    const c = parse(s.backgroundColor);
    if (c && c[3] > 0) {
      layers.push(c);
      if (c[3] >= 1) break;
    }
  }
  let base = [255, 255, 255, 1];
  for (let i = layers.length - 1; i >= 0; i--) base = over(layers[i], base);
  return base;
};
const opacity = (el) => {
  let o = 1;
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) o *= parseFloat(getComputedStyle(n).opacity);
  return o;
};
const ownText = (el) => Array.from(el.childNodes)
  .filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
const visible = (el) => {
  const s = getComputedStyle(el);
  if (s.visibility !== 'visible' || s.display === 'none') return false;
  if (el.checkVisibility && !el.checkVisibility({contentVisibilityAuto: true})) return false;
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0;
};
const out = [];
for (const el of document.body.querySelectorAll('*')) {
  if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'OPTION'].includes(el.tagName)) continue;
  const text = ownText(el);
  if (!text || !visible(el)) continue;
  if (el.closest('[disabled], [aria-disabled=true]')) continue;
  const s = getComputedStyle(el);
  const fg = parse(s.color);
  const bg = background(el);
  if (!fg || !bg) continue;
  const seenOpacity = opacity(el);
  if (seenOpacity === 0) continue;        // not shown at all (a closed dropdown, say)
  const alpha = fg[3] * seenOpacity;
  const seen = over([fg[0], fg[1], fg[2], alpha], bg);
  const size = parseFloat(s.fontSize);
  const bold = parseInt(s.fontWeight, 10) >= 700;
  const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
  const r = ratio(seen, bg);
  if (r + 1e-6 < need) {
    out.push({text: text.slice(0, 60), tag: el.tagName.toLowerCase(), cls: el.className || '',
              ratio: Math.round(r * 100) / 100, need: need, color: s.color,
              background: 'rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')'});
  }
}
return out;
"""


def offenders(driver) -> list[dict]:
    """Visible text below WCAG AA contrast on the current page: text, tag, ratio, colours."""
    return driver.execute_script(CHECK)
