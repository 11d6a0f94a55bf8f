// Package ui holds every Bubble Tea model of vmmpm: the app shell, screens, the wizard view, styles and keys.
package ui
