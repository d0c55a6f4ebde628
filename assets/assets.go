// Package assets serves the embedded static files (htmx, CSS, images) under
// fingerprinted URLs, so that they can be cached for a year and still change
// the moment a file does.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed static
var static embed.FS

// Prefix is where the handler is mounted.
const Prefix = "/assets/"

type index struct {
	byName   map[string]string // "css/app.css" -> "css/app.1a2b3c4d5e.css"
	byHashed map[string]string // the reverse
}

var load = sync.OnceValue(func() *index {
	idx := &index{byName: map[string]string{}, byHashed: map[string]string{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := strings.TrimPrefix(p, "static/")
		ext := path.Ext(name)
		if strings.HasSuffix(name, ".min.js") {
			ext = ".min.js"
		}
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		idx.byName[name] = hashed
		idx.byHashed[hashed] = name
		return nil
	})
	if err != nil {
		panic("assets: walk embedded files: " + err.Error()) // impossible for an embed.FS
	}
	return idx
})

// Path returns the fingerprinted URL path of the embedded file name (relative
// to static/, e.g. "css/app.css"). It panics on an unknown name: that is a
// programming error that every page test catches.
func Path(name string) string {
	hashed, ok := load().byName[name]
	if !ok {
		panic("assets: no embedded file " + name)
	}
	return Prefix + hashed
}

// Handler serves the fingerprinted files with a year-long immutable cache.
// Unknown or unfingerprinted names are 404.
func Handler() http.Handler {
	idx := load()
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hashed := strings.TrimPrefix(r.URL.Path, Prefix)
		name, ok := idx.byHashed[hashed]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		// One range at most: a multi-range request can make the server
		// send many times the bytes it receives (overlapping ranges, each
		// with its own multipart headers; GO-2026-6609). Files this small
		// have no use for several ranges, so such a request gets the whole
		// file, as RFC 9110 14.2 allows.
		if strings.Contains(r2.Header.Get("Range"), ",") || len(r2.Header.Values("Range")) > 1 {
			r2.Header.Del("Range")
			r2.Header.Del("If-Range")
		}
		files.ServeHTTP(w, r2)
	})
}
