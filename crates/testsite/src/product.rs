//! The product page, the only place with a book's UPC, stock count, description and
//! category, laid out like the real site's.

use super::generate::{SiteBook, slugify};
use super::render::{FOOT, availability, escape, head, image_path, stars};
use super::words::CATEGORIES;

pub(super) fn product_page(book: &SiteBook) -> String {
    let root = "../../";
    let title = escape(&book.title);
    let category = escape(&book.category);
    let category_href = CATEGORIES
        .iter()
        .find(|(name, _)| *name == book.category)
        .map(|(name, id)| format!("../category/books/{}_{id}/index.html", slugify(name)))
        .unwrap_or_else(|| "../category/books_1/index.html".to_string());
    let stock = if book.stock > 0 {
        format!("In stock ({} available)", book.stock)
    } else {
        "Out of stock".to_string()
    };
    let description = if book.description.is_empty() {
        String::new()
    } else {
        format!(
            "<div id=\"product_description\" class=\"sub-header\">\n<h2>Product Description</h2>\n\
             </div>\n<p>{}</p>\n",
            escape(&book.description)
        )
    };
    let row = |name: &str, value: &str| format!("<tr>\n<th>{name}</th><td>{value}</td>\n</tr>\n");
    let mut html = head(&book.title, root);
    html.push_str(&format!(
        "<ul class=\"breadcrumb\">\n<li>\n<a href=\"{root}index.html\">Home</a>\n</li>\n<li>\n\
         <a href=\"../category/books_1/index.html\">Books</a>\n</li>\n<li>\n\
         <a href=\"{category_href}\">{category}</a>\n</li>\n<li class=\"active\">{title}</li>\n\
         </ul>\n<div id=\"messages\">\n</div>\n<div class=\"content\">\n<div \
         id=\"content_inner\">\n<article class=\"product_page\"><!-- Start of product page -->\n\
         <div class=\"row\">\n<div class=\"col-sm-6\">\n<div id=\"product_gallery\" \
         class=\"carousel\">\n<div class=\"thumbnail\">\n<div class=\"carousel-inner\">\n<div \
         class=\"item active\">\n<img src=\"{root}{image}\" alt=\"{title}\" />\n</div>\n</div>\n\
         </div>\n</div>\n</div>\n<div class=\"col-sm-6 product_main\">\n<h1>{title}</h1>\n\
         <p class=\"price_color\">{price}</p>\n{availability}{stars}<hr/>\n</div><!-- /col-sm-6 \
         -->\n</div><!-- /row -->\n{description}<div class=\"sub-header\">\n<h2>Product \
         Information</h2>\n</div>\n<table class=\"table table-striped\">\n",
        image = image_path(book),
        price = escape(&book.price),
        availability = availability(&stock, book.stock > 0),
        stars = stars(book.rating),
    ));
    html.push_str(&row("UPC", &escape(&book.upc)));
    html.push_str(&row("Product Type", "Books"));
    html.push_str(&row("Price (excl. tax)", &escape(&book.price)));
    html.push_str(&row("Price (incl. tax)", &escape(&book.price)));
    html.push_str(&row("Tax", &escape(&book.tax)));
    html.push_str(&format!(
        "<tr>\n<th>Availability</th>\n<td>{stock}</td>\n</tr>\n<tr>\n<th>Number of reviews</th>\n\
         <td>{}</td>\n</tr>\n</table>\n</article><!-- End of product page -->\n</div>\n</div>\n",
        book.num_reviews
    ));
    html.push_str(FOOT);
    html
}

#[cfg(test)]
mod tests {
    use super::super::generate::{Site, rating_word};
    use super::*;

    fn site() -> Site {
        Site::generate(1000, 20)
    }

    #[test]
    fn product_page_has_the_real_table_and_breadcrumb() {
        let site = site();
        let book = site
            .books()
            .iter()
            .find(|b| b.stock > 0)
            .expect("a book in stock");
        let path = format!("/catalogue/{}_{}/index.html", book.slug, book.id);
        let html = site.render(&path).expect("product page");
        assert!(html.contains(&format!("<h1>{}</h1>", escape(&book.title))));
        assert!(html.contains(&format!("<th>UPC</th><td>{}</td>", book.upc)));
        for row in [
            "Product Type",
            "Price (excl. tax)",
            "Price (incl. tax)",
            "Tax",
        ] {
            assert!(html.contains(&format!("<th>{row}</th>")), "{row}");
        }
        assert!(html.contains(&format!("<td>In stock ({} available)</td>", book.stock)));
        assert!(html.contains(&format!("star-rating {}", rating_word(book.rating))));
        assert!(html.contains(&format!(
            ">{}</a>\n</li>\n<li class=\"active\">",
            book.category
        )));
        assert!(html.contains("<th>Number of reviews</th>"));
        assert_eq!(
            site.render(&format!("/catalogue/wrong-slug_{}/index.html", book.id)),
            None
        );
        assert_eq!(site.render("/catalogue/nothing_5000/index.html"), None);
    }

    #[test]
    fn out_of_stock_and_description_less_books_render() {
        let site = site();
        let book = site
            .books()
            .iter()
            .find(|b| b.stock == 0)
            .expect("out of stock");
        let html = site.render(&format!("/catalogue/{}_{}/index.html", book.slug, book.id));
        let html = html.expect("product page");
        assert!(html.contains("<td>Out of stock</td>"));
        assert!(html.contains("class=\"outofstock availability\""));
        let bare = site
            .books()
            .iter()
            .find(|b| b.description.is_empty())
            .expect("bare");
        let html = site.render(&format!("/catalogue/{}_{}/index.html", bare.slug, bare.id));
        assert!(!html.expect("product page").contains("product_description"));
    }
}
