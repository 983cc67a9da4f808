package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// UninstallOptions say where to uninstall from.
type UninstallOptions struct {
	HostRoot string
	// Restart, when set, is called once if kubelet's configuration changed.
	Restart func(ctx context.Context) error
	DryRun  bool
}

// action is one planned uninstall step.
type action struct {
	rec     record
	real    string
	remove  bool
	content []byte
	mode    fs.FileMode
}

// Uninstall undoes what Install recorded: files pullkey created are
// removed, files it changed get their earlier content back (or, when
// someone edited them since, just pullkey's entry or flags taken out), and
// directories it created are removed when empty. Everything is planned and
// validated before the first change.
func Uninstall(ctx context.Context, o UninstallOptions) (Result, error) {
	h, err := newHost(o.HostRoot)
	if err != nil {
		return Result{}, err
	}
	st, stateReal, err := h.loadState()
	if err != nil {
		return Result{}, err
	}
	var res Result
	if len(st.Files) == 0 && len(st.CreatedDirs) == 0 {
		res.Notes = append(res.Notes, "pullkey is not installed here (no "+StatePath+")")
		return res, nil
	}
	var acts []action
	for _, rec := range slices.Backward(st.Files) {
		a, note, err := h.planUndo(rec)
		if err != nil {
			return Result{}, err
		}
		if note != "" {
			res.Notes = append(res.Notes, note)
		}
		if a == nil {
			continue
		}
		acts = append(acts, *a)
		verb := "restore"
		if a.remove {
			verb = "remove"
		}
		res.Changes = append(res.Changes, fmt.Sprintf("%s %s", verb, rec.Path))
		if rec.Role == roleProviderFile || rec.Role == roleProviderDir || rec.Role == roleKubeletArgs {
			res.KubeletConfigChanged = true
		}
	}
	res.Changes = append(res.Changes, "remove install state "+StatePath)
	if o.DryRun {
		return res, nil
	}
	for _, a := range acts {
		var err error
		if a.remove {
			err = os.Remove(a.real)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			err = writeAtomic(a.real, a.content, a.mode)
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", a.rec.Path, err)
		}
	}
	if err := os.Remove(stateReal); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("install state: %w", err)
	}
	for _, d := range slices.Backward(st.CreatedDirs) {
		real, err := h.resolve(d)
		if err != nil {
			continue
		}
		err = os.Remove(real)
		switch {
		case err == nil:
			res.Changes = append(res.Changes, "remove directory "+d)
		case dirNotEmpty(err):
			res.Notes = append(res.Notes, "kept directory "+d+" (not empty)")
		case errors.Is(err, fs.ErrNotExist):
		default:
			return res, err
		}
	}
	return res, restart(ctx, o.Restart, &res)
}

// planUndo decides how to undo one recorded file; a nil action leaves it.
func (h host) planUndo(rec record) (*action, string, error) {
	real, err := h.resolve(rec.Path)
	if err != nil {
		return nil, "", err
	}
	if _, err := h.checkDirs(filepath.Dir(real)); err != nil {
		return nil, "", err
	}
	cur, curMode, exists, err := readFile(real, maxBinarySize)
	if err != nil {
		return nil, "", err
	}
	if !exists {
		return nil, "", nil
	}
	a := &action{rec: rec, real: real}
	if digest(cur) == rec.Installed {
		// Untouched since install: put back exactly what was there.
		switch {
		case rec.Created:
			a.remove = true
		case rec.Role == roleBinary:
			return nil, "left " + rec.Path + " in place (it existed before pullkey installed it)", nil
		case rec.Role == roleSecretFile:
			return nil, "left secret " + rec.Path + " in place: it existed before pullkey installed it, and its earlier content is not kept; restore or remove it by hand", nil
		default:
			a.content, a.mode = rec.Prior, safeMode(rec.PriorMode)
		}
		return a, "", nil
	}
	// Changed since install: take out only what pullkey added.
	switch rec.Role {
	case roleProviderFile:
		doc, err := parseDocument(rec.Path, cur)
		if err != nil {
			return nil, "", fmt.Errorf("kubelet config changed since install and is now invalid, nothing was changed; fix it first: %w", err)
		}
		rest := doc.without(rec.Provider)
		if len(rest.providers()) == 0 {
			if rec.Created {
				a.remove = true
				return a, "", nil
			}
			return nil, "left " + rec.Path + " in place: without pullkey it would have no provider, which kubelet refuses", nil
		}
		if rest.equal(doc) {
			return nil, "", nil
		}
		if _, err := rest.validate(); err != nil {
			return nil, "", fmt.Errorf("%s without pullkey would be invalid, nothing was changed: %w", rec.Path, err)
		}
		if a.content, err = rest.encode(); err != nil {
			return nil, "", err
		}
		a.mode = safeMode(curMode)
		return a, "", nil
	case roleKubeletArgs:
		out := removeExtraArgs(string(cur), rec.Flags)
		if out == string(cur) {
			return nil, "", nil
		}
		a.content, a.mode = []byte(out), safeMode(curMode)
		if rec.Created && bytes.Equal(a.content, []byte(extraArgsVar+"=\n")) {
			a.remove = true
		}
		return a, "", nil
	}
	return nil, "left " + rec.Path + " in place: it changed since pullkey installed it", nil
}
