// Shared pieces of UI: error display, confirmations, form fields with live messages.
import { h, mount } from './dom.js'

/**
 * The API's message without the key path it starts with ("a.b[0].c: must be …" → "must be …"),
 * since the path is shown on its own. @param {{ message?: string, path?: string }} e
 */
export function messageWithoutPath(e) {
  const m = e.message ?? ''
  return e.path && m.startsWith(`${e.path}: `) ? m.slice(e.path.length + 2) : m
}

/** An error as the API explained it: its message, and the key path it is about. @param {unknown} err */
export function errorBox(err) {
  const e = /** @type {{ message?: string, path?: string, status?: number }} */ (err ?? {})
  const message = messageWithoutPath(e)
  return h('div', { class: 'alert error', role: 'alert' },
    h('strong', null, e.status === 0 ? 'Connection problem' : 'Error'), ' ',
    h('span', { class: 'message' }, message || String(err)),
    e.path ? h('span', { class: 'path' }, ' at ', h('code', null, e.path)) : null)
}

/** Puts an error (or nothing) into a slot element. @param {Element} slot @param {unknown} [err] */
export function showError(slot, err) {
  if (err === undefined || err === null) mount(slot)
  else mount(slot, errorBox(err))
}

/**
 * Loads what a page shows: `fetch` asks the API, `draw` shows the answer, an error goes to
 * `slot` (cleared by the next answer). After `stop()` (the page was left) answers are dropped.
 * @template T
 * @param {Element} slot @param {() => Promise<T>} fetch @param {(value: T) => void} draw
 */
export function pageLoader(slot, fetch, draw) {
  let stopped = false
  const load = async () => {
    try {
      const value = await fetch()
      if (stopped) return
      showError(slot)
      draw(value)
    } catch (err) {
      if (!stopped) showError(slot, err)
    }
  }
  return { load, stop: () => { stopped = true } }
}

/**
 * What a page's buttons run: `call` the API, then a toast saying `done`, or the error in
 * `slot`; either way the page loads again (`reload`).
 * @param {Element} slot @param {() => Promise<void>} reload
 */
export function pageAction(slot, reload) {
  return async (/** @type {() => Promise<unknown>} */ call, /** @type {string} */ done) => {
    try {
      await call()
      toast(done)
    } catch (err) {
      showError(slot, err)
    }
    await reload()
  }
}

let toastTimer = 0
/** A short-lived notice at the bottom of the page. @param {string} text */
export function toast(text) {
  let el = document.getElementById('toast')
  if (el === null) {
    el = h('div', { id: 'toast', role: 'status' })
    document.body.appendChild(el)
  }
  el.textContent = text
  el.classList.add('show')
  clearTimeout(toastTimer)
  toastTimer = window.setTimeout(() => el?.classList.remove('show'), 3500)
}

/**
 * A modal confirmation (a <dialog>, not window.confirm). Resolves true when confirmed.
 * @param {string} title @param {string} text @param {string} [confirmLabel]
 */
export function confirmDialog(title, text, confirmLabel = 'Confirm') {
  return new Promise((resolve) => {
    const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'confirm', 'aria-label': title },
      h('h3', null, title), h('p', null, text),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', 'data-action': 'cancel', onclick: () => dialog.close('cancel') }, 'Cancel'),
        h('button', { type: 'button', class: 'danger', 'data-action': 'confirm', onclick: () => dialog.close('ok') }, confirmLabel))))
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok')
      dialog.remove()
    })
    document.body.appendChild(dialog)
    dialog.showModal()
  })
}

/** A modal holding arbitrary content; returns the dialog (close() removes it). @param {string} title @param {Node} body */
export function modal(title, body) {
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'modal', 'aria-label': title },
    h('header', null, h('h3', null, title), h('button', { type: 'button', class: 'icon', 'aria-label': 'Close', onclick: () => dialog.close() }, '×')),
    body))
  dialog.addEventListener('close', () => dialog.remove())
  document.body.appendChild(dialog)
  dialog.showModal()
  return dialog
}

/**
 * A labelled form field with slots for a hint, a warning and an error.
 * @param {string} name  the key the validators and the API's `path` use
 * @param {string} label
 * @param {HTMLElement} control
 * @param {{ hint?: string | Node, counter?: number }} [o]
 */
export function field(name, label, control, o = {}) {
  const id = `f-${name}`
  if (!control.id) control.id = id
  control.setAttribute('name', name)
  const error = h('div', { class: 'field-error', id: `${id}-error` })
  const warning = h('div', { class: 'field-warning', id: `${id}-warning` })
  control.setAttribute('aria-describedby', `${id}-error ${id}-warning`)
  /** @type {HTMLElement | null} */
  let counter = null
  if (o.counter !== undefined) {
    const max = o.counter
    counter = h('span', { class: 'counter', 'data-counter': name })
    const update = () => {
      const n = [.../** @type {HTMLInputElement} */ (control).value].length
      if (counter) {
        counter.textContent = `${n}/${max}`
        counter.classList.toggle('over', n > max)
      }
    }
    control.addEventListener('input', update)
    queueMicrotask(update)
  }
  if (control instanceof HTMLInputElement && control.type === 'checkbox') {
    return h('div', { class: 'field inline', 'data-field': name },
      h('label', { for: control.id }, control, h('span', null, label)),
      o.hint ? h('div', { class: 'hint' }, o.hint) : null,
      warning, error)
  }
  return h('div', { class: 'field', 'data-field': name },
    h('label', { for: control.id }, label, counter),
    control,
    o.hint ? h('div', { class: 'hint' }, o.hint) : null,
    warning, error)
}

/**
 * Shows validation messages on a form's fields; returns true when there are no errors.
 * @param {HTMLElement} form @param {Record<string, string>} errors @param {Record<string, string>} [warnings]
 * @param {Set<string>} [touched]  only these fields show errors (all when omitted)
 */
export function showFieldMessages(form, errors, warnings = {}, touched) {
  for (const el of form.querySelectorAll('.field')) {
    const name = /** @type {HTMLElement} */ (el).dataset.field ?? ''
    const err = errors[name] && (touched === undefined || touched.has(name)) ? errors[name] : ''
    const errorSlot = el.querySelector(':scope > .field-error')
    const warningSlot = el.querySelector(':scope > .field-warning')
    if (errorSlot) errorSlot.textContent = err ?? ''
    if (warningSlot) warningSlot.textContent = warnings[name] ?? ''
    el.classList.toggle('invalid', Boolean(err))
    const control = el.querySelector('input, select, textarea')
    if (control) control.setAttribute('aria-invalid', err ? 'true' : 'false')
  }
  return Object.keys(errors).length === 0
}

/**
 * Re-validates a form as it is edited: a field (or a group of controls with `data-group`)
 * counts as touched from its first input, change or focus-out, so its errors show from then on.
 * @param {HTMLElement} form @param {Set<string>} touched @param {() => unknown} sync
 */
export function validateAsTouched(form, touched, sync) {
  const touch = (/** @type {Event} */ ev) => {
    const t = /** @type {HTMLInputElement} */ (ev.target)
    const key = t.dataset?.group ?? t.name
    if (key) touched.add(key)
    sync()
  }
  for (const type of ['input', 'change', 'focusout']) form.addEventListener(type, touch)
}

/**
 * A form validated as it is edited (validateAsTouched) whose submit runs `submit` only when
 * `sync(true)` finds every field valid; otherwise the focus moves to the first control that
 * `invalid` selects, when given.
 * @param {HTMLElement} form @param {Set<string>} touched @param {(all?: boolean) => boolean} sync
 * @param {() => Promise<void>} submit @param {string} [invalid]
 */
export function submitWhenValid(form, touched, sync, submit, invalid) {
  validateAsTouched(form, touched, sync)
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    if (!sync(true)) {
      if (invalid !== undefined) /** @type {HTMLElement | null} */ (form.querySelector(invalid))?.focus()
      return
    }
    await submit()
  })
}

/**
 * Runs `work` with `button` disabled until it ends, so a second click cannot send twice; an
 * error goes to `failed`.
 * @param {HTMLButtonElement} button @param {() => Promise<void>} work @param {(err: unknown) => void} failed
 */
export async function whileBusy(button, work, failed) {
  button.disabled = true
  try {
    await work()
  } catch (err) {
    failed(err)
  } finally {
    button.disabled = false
  }
}

/**
 * A form that sends one required text: on submit, `input`'s trimmed text (when empty, `missing`
 * is shown in `slot` and nothing is sent) goes to `send` with `button` disabled until it ends;
 * an error goes to `failed`.
 * @param {Record<string, unknown>} attrs the form's attributes
 * @param {{ input: HTMLInputElement | HTMLTextAreaElement, missing: string, slot: Element, button: HTMLButtonElement,
 *   send: (text: string) => Promise<void>, failed: (err: unknown) => void }} o
 * @param {...unknown} children
 */
export function requiredTextForm(attrs, o, ...children) {
  return h('form', {
    ...attrs, novalidate: true,
    onsubmit: async (/** @type {Event} */ ev) => {
      ev.preventDefault()
      const text = o.input.value.trim()
      if (text === '') {
        showError(o.slot, { message: o.missing })
        return
      }
      await whileBusy(o.button, () => o.send(text), o.failed)
    },
  }, ...children)
}

/**
 * Shows an API error: on the field its `path` names (the last key of the path, or its
 * first list key — `claims.issuer`, `text.keys[0]` …) when the form has one, and always in
 * the form's error slot.
 * @param {HTMLElement} form @param {Element} slot @param {unknown} err
 */
export function showServerError(form, slot, err) {
  showError(slot, err)
  const path = /** @type {{ path?: string }} */ (err ?? {}).path
  if (!path) return
  const keys = path.replace(/\[\d+\]/g, '').split('.').filter((k) => k !== '' && k !== 'body')
  for (let i = keys.length - 1; i >= 0; i--) {
    const target = form.querySelector(`.field[data-field="${CSS.escape(keys[i] ?? '')}"]`)
    if (target) {
      target.classList.add('invalid')
      const slotEl = target.querySelector(':scope > .field-error')
      if (slotEl) slotEl.textContent = messageWithoutPath(/** @type {{ message?: string, path?: string }} */ (err))
      return
    }
  }
}

/** A status pill. @param {string} text @param {string} tone ok|warn|bad|off */
export function pill(text, tone) {
  return h('span', { class: `pill ${tone}` }, text)
}

/** A table with a header row. @param {string[]} headers @param {Node[]} rows @param {Record<string, string>} [attrs] */
export function table(headers, rows, attrs = {}) {
  return h('table', attrs, h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))), h('tbody', null, rows))
}

/**
 * The tabs of the authorization pages (policies, settings).
 * @param {'policies' | 'settings'} current
 */
export function authorizationTabs(current) {
  const tab = (/** @type {string} */ key, /** @type {string} */ href, /** @type {string} */ label) =>
    h('a', { href, class: 'tab', 'data-tab': key, 'aria-current': key === current ? 'page' : null }, label)
  return h('div', { class: 'tabs', role: 'navigation', 'aria-label': 'Authorization' },
    tab('policies', '#/authorization', 'Policies'), tab('settings', '#/authorization/settings', 'Settings'))
}
