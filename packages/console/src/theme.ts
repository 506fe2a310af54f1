import {
  type CSSVariablesResolver,
  createTheme,
  defaultVariantColorsResolver,
  type MantineColorsTuple,
  parseThemeColor,
  type VariantColorsResolver,
} from '@mantine/core'

/**
 * Mantine's defaults put several texts under WCAG AA contrast (dimmed grey, teal on white, light
 * buttons): the palette's last shades are darker, and light variants take their darkest shade for
 * text on their palest one. Light scheme only, so every pairing here was measured (4.5:1 or more).
 */

// Teal, shifted one step darker so shade 9 carries white text and sits on pale teal at > 5:1.
const coffer: MantineColorsTuple = [
  '#e6fcf5',
  '#c3fae8',
  '#96f2d7',
  '#63e6be',
  '#38d9a9',
  '#20c997',
  '#0ca678',
  '#099268',
  '#087f5b',
  '#066b4d',
]

const lightVariantsReadable: VariantColorsResolver = (input) => {
  const defaults = defaultVariantColorsResolver(input)
  if (input.variant !== 'light') return defaults
  const parsed = parseThemeColor({ color: input.color ?? input.theme.primaryColor, theme: input.theme })
  if (!parsed.isThemeColor) return defaults
  return {
    ...defaults,
    background: `var(--mantine-color-${parsed.color}-0)`,
    hover: `var(--mantine-color-${parsed.color}-1)`,
    color: `var(--mantine-color-${parsed.color}-9)`,
  }
}

export const theme = createTheme({
  colors: { coffer },
  primaryColor: 'coffer',
  primaryShade: 9,
  defaultRadius: 'md',
  variantColorResolver: lightVariantsReadable,
})

export const readableVariables: CSSVariablesResolver = (resolved) => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': resolved.colors.gray[7],
    '--mantine-color-anchor': resolved.colors.coffer?.[9] ?? coffer[9],
  },
  dark: {},
})
